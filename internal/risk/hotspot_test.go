package risk

import (
	"math"
	"math/rand/v2"
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
	nb := lattice(side)
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
	// The two-sided pseudo p-value, twice the smaller tail
	// 2 (atLeast+1)/(999+1), should be near 2 (0.01087*999+1)/1000.
	// Over 50 seeds the mean p is within 3 standard errors (0.003) of it,
	// and every seed finds the corner hot.
	exact := 2 * (22.0/2024*999 + 1) / 1000
	mean := 0.0
	for seed := uint64(0); seed < 50; seed++ {
		h := GetisOrdGiStar(x, nb, 999, seed, sig)[0]
		mean += h.P / 50
		if (h.Class != "hot_95" && h.Class != "hot_99") || h.Z < 3 {
			t.Errorf("seed %d: the hot corner = %+v, want hot", seed, h)
		}
	}
	if math.Abs(mean-exact) > 0.003 {
		t.Errorf("the hot corner's mean p over 50 seeds = %.4f, want %.4f", mean, exact)
	}
	far := a[side*side-1]
	if far.Class != "not_significant" && far.Class[:4] != "cold" {
		t.Errorf("the far corner = %+v, want not hot", far)
	}
}

// A village with no neighbour is not tested, and tied values are never
// significant (before, both came out as p = 0.001, *_99).
func TestGiStarNoNeighboursAndTies(t *testing.T) {
	sig := [3]float64{0.01, 0.05, 0.10}
	x := []float64{5, 1, 1, 1, 9}
	nb := [][]int{{}, {2}, {1, 3}, {2}, {}}
	h := GetisOrdGiStar(x, nb, 999, 1, sig)
	for _, i := range []int{0, 4} {
		if h[i].Class != "no_neighbours" || h[i].ClassFDR != "no_neighbours" || h[i].P != 1 {
			t.Errorf("isolated village %d = %+v, want no_neighbours", i, h[i])
		}
	}
	flat := []float64{3, 3, 3, 3, 3, 3}
	ring := [][]int{{1, 5}, {0, 2}, {1, 3}, {2, 4}, {3, 5}, {4, 0}}
	for i, r := range GetisOrdGiStar(flat, ring, 999, 1, sig) {
		if r.P != 1 || r.Class != "not_significant" {
			t.Errorf("equal values, village %d = %+v, want p = 1, not significant", i, r)
		}
	}
}

// On spatially random values (a random permutation over a lattice), the
// raw 95% class flags about 5% of villages, as a two-sided test should,
// and the false-discovery-rate correction far fewer.
func TestGiStarRandomValues(t *testing.T) {
	const side = 20
	nb := lattice(side)
	sig := [3]float64{0.01, 0.05, 0.10}
	rng := rand.New(rand.NewPCG(3, 4))
	raw, fdr, total := 0, 0, 0
	for rep := 0; rep < 10; rep++ {
		x := make([]float64, side*side)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		for _, h := range GetisOrdGiStar(x, nb, 199, uint64(rep), sig) {
			total++
			if h.P <= 0.05 {
				raw++
			}
			if h.ClassFDR != "not_significant" && h.ClassFDR[len(h.ClassFDR)-2:] != "90" {
				fdr++
			}
		}
	}
	rate := float64(raw) / float64(total)
	if rate < 0.03 || rate > 0.08 {
		t.Errorf("random values: %.1f%% flagged at p <= 0.05, want about 5%%", 100*rate)
	}
	if fdr*5 > raw {
		t.Errorf("FDR kept %d of %d raw flags: want far fewer", fdr, raw)
	}
	t.Logf("random values: %.1f%% raw at 0.05, %.2f%% after FDR", 100*rate, 100*float64(fdr)/float64(total))
}

func TestFDRCutoff(t *testing.T) {
	// esda's example logic: sorted p against k alpha / m.
	ps := []float64{0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216}
	if got := FDRCutoff(ps, 0.05); got != 0.008 {
		t.Errorf("FDR cut-off = %v, want 0.008 (0.039 > 3 x 0.05 / 10)", got)
	}
	if got := FDRCutoff([]float64{0.5, 0.9}, 0.05); got != 0 {
		t.Errorf("nothing significant: cut-off %v, want 0", got)
	}
}

// Local Moran's I on a lattice: a block of high values is a high_high
// cluster, one high value among lows a high_low outlier, and I matches the
// formula worked by hand for a small case.
func TestLocalMoran(t *testing.T) {
	x := []float64{1, 2, 3, 6}
	nb := [][]int{{1}, {0, 2}, {1, 3}, {2}}
	got := LocalMoranI(x, nb, 99, 1, 0.05)
	// mean 3, z = -2 -1 0 3, m2 = (4+1+0+9)/4 = 3.5; I_3 = 3/3.5 * z_2 = 0;
	// I_0 = -2/3.5 * -1 = 0.5714; I_1 = -1/3.5 * (-2+0)/2 = 0.2857
	for i, want := range []float64{2.0 / 3.5, 1.0 / 3.5, 0, 0} {
		if math.Abs(got[i].I-want) > 1e-12 {
			t.Errorf("I[%d] = %v, want %v", i, got[i].I, want)
		}
	}
	const side = 10
	nb = lattice(side)
	y := make([]float64, side*side)
	for i := range y {
		y[i] = float64(i % 10)
	}
	for _, i := range []int{0, 1, 10, 11, 2, 12} {
		y[i] = 20
	}
	y[side*side-1] = 30 // an outlier in a corner of lows
	for _, i := range []int{side*side - 2, side*side - 11, side*side - 12} {
		y[i] = 0
	}
	m := LocalMoranI(y, nb, 999, 7, 0.05)
	if m[0].Class != "high_high" || m[11].Class != "high_high" {
		t.Errorf("high block: %+v %+v, want high_high", m[0], m[11])
	}
	if c := m[side*side-1].Class; c != "high_low" {
		t.Errorf("lone high value: %s, want high_low", c)
	}
}

func lattice(side int) [][]int {
	nb := make([][]int, side*side)
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
	return nb
}
