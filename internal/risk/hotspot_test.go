package risk

import (
	"math"
	"testing"
)

// queen3x3 is the queen contiguity of a 3x3 lattice numbered row by row:
//
//	0 1 2
//	3 4 5
//	6 7 8
var queen3x3 = [][]int{
	{1, 3, 4}, {0, 2, 3, 4, 5}, {1, 4, 5},
	{0, 1, 4, 6, 7}, {0, 1, 2, 3, 5, 6, 7, 8}, {1, 2, 4, 7, 8},
	{3, 4, 7}, {3, 4, 5, 6, 8}, {4, 5, 7},
}

// TestGiStarByHand checks Gi* against values worked out by hand for the
// lattice with values 1..9:
//
//	n = 9, mean = 5, sum of squares = 285, S = sqrt(285/9 - 25) = sqrt(20/3) = 2.5819889
//	Gi*_i = (sum of the star's values - 5 w) / (S sqrt((9 w - w^2) / 8))
//	corner 0: star {0,1,3,4}, values 1+2+4+5 = 12, w = 4: (12 - 20) / (S sqrt(20/8)) = -8 / 4.0824829 = -1.9595918
//	corner 8: star {8,4,5,7}, values 9+5+6+8 = 28, w = 4: +8 / 4.0824829 = +1.9595918
//	edge 1: star {1,0,2,3,4,5}, 2+1+3+4+5+6 = 21, w = 6: (21 - 30) / (S sqrt(18/8)) = -9 / 3.8729833 = -2.3237900
//	edge 3: star {3,0,1,4,6,7}, 4+1+2+5+7+8 = 27, w = 6: -3 / 3.8729833 = -0.7745967
//	centre 4: the star is every cell: w = 9 = n, the denominator is 0: z = 0
func TestGiStarByHand(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	got := GetisOrdGiStar(x, queen3x3, 999, 1, [3]float64{0.01, 0.05, 0.10})
	want := map[int]float64{0: -1.9595918, 8: 1.9595918, 1: -2.3237900, 3: -0.7745967, 5: 0.7745967, 7: 2.3237900, 4: 0}
	for i, z := range want {
		if math.Abs(got[i].Z-z) > 1e-6 {
			t.Errorf("Gi*[%d] = %.7f, want %.7f", i, got[i].Z, z)
		}
	}
	for i, h := range got {
		if h.P <= 0 || h.P > 1 {
			t.Errorf("p[%d] = %g, want 0 < p <= 1", i, h.P)
		}
	}
	if got[4].Class != "not_significant" || got[4].P != 1 {
		t.Errorf("centre = %+v, want not significant with p = 1", got[4])
	}
}

func TestGiStarPermutations(t *testing.T) {
	// A hot corner: three high values together in a 5x5 lattice of ones.
	const side = 5
	x := make([]float64, side*side)
	for i := range x {
		x[i] = 1
	}
	x[0], x[1], x[side] = 10, 10, 10
	nb := make([][]int, len(x))
	for r := 0; r < side; r++ {
		for c := 0; c < side; c++ {
			for dr := -1; dr <= 1; dr++ {
				for dc := -1; dc <= 1; dc++ {
					rr, cc := r+dr, c+dc
					if (dr != 0 || dc != 0) && rr >= 0 && rr < side && cc >= 0 && cc < side {
						nb[r*side+c] = append(nb[r*side+c], rr*side+cc)
					}
				}
			}
		}
	}
	sig := [3]float64{0.01, 0.05, 0.10}
	a := GetisOrdGiStar(x, nb, 999, 42, sig)
	b := GetisOrdGiStar(x, nb, 999, 42, sig)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("the same seed gave %+v then %+v", a[i], b[i])
		}
	}
	// The corner's star holds 10+10+10+1 = 31. A permutation draws its 3
	// neighbours from the 24 other cells, of which two hold 10: it reaches
	// 31 only by drawing both, with probability C(22,1)/C(24,3) = 22/2024.
	// The pseudo p-value (above+1)/(999+1) should be near (0.01087*999+1)/1000.
	exact := (22.0/2024*999 + 1) / 1000
	for _, seed := range []uint64{42, 43, 44} {
		h := GetisOrdGiStar(x, nb, 999, seed, sig)[0]
		if math.Abs(h.P-exact) > 0.012 || (h.Class != "hot_99" && h.Class != "hot_95") || h.Z < 3 {
			t.Errorf("seed %d: the hot corner = %+v, want p near %.4f and hot", seed, h, exact)
		}
	}
	far := a[side*side-1]
	if far.Class != "not_significant" && far.Class[:4] != "cold" {
		t.Errorf("the far corner = %+v, want not hot", far)
	}
}
