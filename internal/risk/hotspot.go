package risk

import (
	"math"
	"math/rand/v2"
)

// Hotspot is the local Getis-Ord Gi* result of one area.
type Hotspot struct {
	Z     float64 // Gi* as a z-score
	P     float64 // pseudo p-value from conditional permutations (folded, as PySAL and GeoDa report it)
	Class string  // hot_99, hot_95, hot_90, cold_99, cold_95, cold_90 or not_significant
}

// GetisOrdGiStar computes the local Gi* statistic (Getis and Ord 1992; Ord
// and Getis 1995) of each value x[i] with binary weights: area i and its
// neighbours[i] (which must not hold i itself). Pseudo p-values come from
// perms conditional permutations seeded with seed, so a run is reproducible:
// area i keeps its value and |neighbours[i]| values are drawn at random from
// the other areas. sig holds the three levels (0.01, 0.05, 0.10) that name
// the classes.
func GetisOrdGiStar(x []float64, neighbours [][]int, perms int, seed uint64, sig [3]float64) []Hotspot {
	n := len(x)
	out := make([]Hotspot, n)
	if n < 3 {
		for i := range out {
			out[i].Class = "not_significant"
			out[i].P = 1
		}
		return out
	}
	var sum, sumSq float64
	for _, v := range x {
		sum += v
		sumSq += v * v
	}
	mean := sum / float64(n)
	s := math.Sqrt(sumSq/float64(n) - mean*mean)
	z := func(local float64, w int) float64 {
		wf := float64(w)
		den := s * math.Sqrt((float64(n)*wf-wf*wf)/float64(n-1))
		if den == 0 {
			return 0
		}
		return (local - mean*wf) / den
	}
	rng := rand.New(rand.NewPCG(seed, 0x6769))
	others := make([]int, n-1)
	for i := range x {
		w := len(neighbours[i]) + 1 // the star includes the area itself
		local := x[i]
		for _, j := range neighbours[i] {
			local += x[j]
		}
		out[i].Z = z(local, w)
		if w >= n { // every area is a neighbour: nothing to permute
			out[i].P, out[i].Class = 1, "not_significant"
			continue
		}
		// Conditional randomisation: a partial Fisher-Yates shuffle of the
		// other areas draws w-1 of them per permutation.
		k := 0
		for j := range x {
			if j != i {
				others[k] = j
				k++
			}
		}
		above := 0
		for p := 0; p < perms; p++ {
			sim := x[i]
			for d := 0; d < w-1; d++ {
				r := d + rng.IntN(n-1-d)
				others[d], others[r] = others[r], others[d]
				sim += x[others[d]]
			}
			if sim >= local {
				above++
			}
		}
		if perms-above < above {
			above = perms - above
		}
		out[i].P = float64(above+1) / float64(perms+1)
		out[i].Class = hotspotClass(out[i].Z, out[i].P, sig)
	}
	return out
}

func hotspotClass(z, p float64, sig [3]float64) string {
	side := "hot"
	if z < 0 {
		side = "cold"
	}
	switch {
	case p <= sig[0]:
		return side + "_99"
	case p <= sig[1]:
		return side + "_95"
	case p <= sig[2]:
		return side + "_90"
	}
	return "not_significant"
}
