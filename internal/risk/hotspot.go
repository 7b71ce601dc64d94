package risk

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Hotspot is the local Getis-Ord Gi* result of one area.
type Hotspot struct {
	Z float64 // Gi* as a z-score
	// P is the two-sided pseudo p-value from conditional permutations:
	// twice the smaller tail, ties counted in both (so tied values are not
	// significant), at most 1. An area with no neighbour is not tested (P 1).
	P float64
	// Class is hot or cold at p <= 0.01, 0.05 or 0.10 (hot_99, hot_95,
	// hot_90, cold_*), not_significant, or no_neighbours; ClassFDR is the
	// same after the Benjamini-Hochberg false-discovery-rate correction
	// over every tested area (as esda's fdr).
	Class, ClassFDR string
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
	for i := range out {
		out[i].P, out[i].Class, out[i].ClassFDR = 1, "not_significant", "not_significant"
		if len(neighbours[i]) == 0 {
			out[i].Class, out[i].ClassFDR = "no_neighbours", "no_neighbours"
		}
	}
	if n < 3 {
		return out
	}
	var sum, sumSq float64
	for _, v := range x {
		sum += v
		sumSq += v * v
	}
	mean := sum / float64(n)
	s := math.Sqrt(math.Max(sumSq/float64(n)-mean*mean, 0))
	z := func(local float64, w int) float64 {
		wf := float64(w)
		den := s * math.Sqrt((float64(n)*wf-wf*wf)/float64(n-1))
		if den == 0 {
			return 0
		}
		return (local - mean*wf) / den
	}
	rng := rand.New(rand.NewPCG(seed, 0x6769))
	others := newPool(n)
	var tested []int
	for i := range x {
		if len(neighbours[i]) == 0 {
			continue
		}
		w := len(neighbours[i]) + 1 // the star includes the area itself
		local := x[i]
		for _, j := range neighbours[i] {
			local += x[j]
		}
		out[i].Z = z(local, w)
		if w >= n { // every area is a neighbour: nothing to permute
			continue
		}
		out[i].P = conditionalP(x, i, w-1, perms, rng, others, local, func(sum float64) float64 { return x[i] + sum })
		out[i].Class = hotspotClass(out[i].Z, out[i].P, sig)
		tested = append(tested, i)
	}
	ps := make([]float64, len(tested))
	for k, i := range tested {
		ps[k] = out[i].P
	}
	var cut [3]float64
	for l := range sig {
		cut[l] = FDRCutoff(ps, sig[l])
	}
	for _, i := range tested {
		p := out[i].P
		switch {
		case p <= cut[0]:
			out[i].ClassFDR = hotspotClass(out[i].Z, sig[0], sig)
		case p <= cut[1]:
			out[i].ClassFDR = hotspotClass(out[i].Z, sig[1], sig)
		case p <= cut[2]:
			out[i].ClassFDR = hotspotClass(out[i].Z, sig[2], sig)
		}
	}
	return out
}

// conditionalP is the two-sided pseudo p-value of an area's statistic by
// conditional randomisation (as PySAL's esda): area i keeps its value and
// k of the other areas' values v are drawn at random per permutation (a
// partial Fisher-Yates shuffle of the pool's first n-1 indices, all but
// i's), stat turning their sum into the permuted statistic, compared with
// the observed one, ties in both tails.
func conditionalP(v []float64, i, k, perms int, rng *rand.Rand, others *pool, observed float64, stat func(sum float64) float64) float64 {
	n := len(v)
	// Area i goes to the pool's end, out of the draws. The pool is not
	// refilled for each area (that made the test of n areas cost n
	// squared): a partial Fisher-Yates shuffle draws a uniform sample from
	// any arrangement of the indices.
	others.swap(others.pos[i], n-1)
	idx := others.idx
	eps := 1e-12 * math.Max(1, math.Abs(observed))
	atLeast, atMost := 0, 0
	for p := 0; p < perms; p++ {
		sum := 0.0
		for d := 0; d < k; d++ {
			others.swap(d, d+rng.IntN(n-1-d))
			sum += v[idx[d]]
		}
		sim := stat(sum)
		if sim >= observed-eps {
			atLeast++
		}
		if sim <= observed+eps {
			atMost++
		}
	}
	return twoSided(atLeast, atMost, perms)
}

// twoSided is the two-sided pseudo p-value of an observed statistic from
// how many of perms permuted ones were at least and at most as large:
// twice the smaller tail with the observation itself counted, at most 1.
func twoSided(atLeast, atMost, perms int) float64 {
	return math.Min(1, 2*float64(min(atLeast, atMost)+1)/float64(perms+1))
}

// FDRCutoff is the Benjamini-Hochberg cut-off of p-values at rate alpha
// (as esda's fdr): the largest p(k) with p(k) <= k alpha / m over the
// sorted p-values; 0 when none is. A test is significant when p <= it.
func FDRCutoff(ps []float64, alpha float64) float64 {
	sorted := append([]float64{}, ps...)
	sort.Float64s(sorted)
	m := float64(len(sorted))
	cut := 0.0
	for k, p := range sorted {
		if p <= float64(k+1)*alpha/m {
			cut = p
		}
	}
	return cut
}

// LocalMoran is the local Moran's I (Anselin 1995) of one area.
type LocalMoran struct {
	I, P float64
	// Class is the quadrant of a significant area (p <= alpha):
	// high_high and low_low are clusters, high_low and low_high outliers;
	// else not_significant, or no_neighbours.
	Class string
}

// LocalMoranI computes local Moran's I with row-standardised binary
// weights, I_i = (z_i / m2) mean of z over i's neighbours (z = x - mean,
// m2 = mean of z^2), and two-sided pseudo p-values from perms conditional
// permutations, as esda's Moran_Local does.
func LocalMoranI(x []float64, neighbours [][]int, perms int, seed uint64, alpha float64) []LocalMoran {
	n := len(x)
	out := make([]LocalMoran, n)
	for i := range out {
		out[i].P, out[i].Class = 1, "not_significant"
		if len(neighbours[i]) == 0 {
			out[i].Class = "no_neighbours"
		}
	}
	if n < 3 {
		return out
	}
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(n)
	zs := make([]float64, n)
	var m2 float64
	for i, v := range x {
		zs[i] = v - mean
		m2 += zs[i] * zs[i]
	}
	m2 /= float64(n)
	if m2 == 0 {
		return out
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d6f72))
	others := newPool(n)
	for i := range x {
		k := len(neighbours[i])
		if k == 0 {
			continue
		}
		lag := 0.0
		for _, j := range neighbours[i] {
			lag += zs[j]
		}
		lag /= float64(k)
		out[i].I = zs[i] / m2 * lag
		if k >= n-1 {
			continue
		}
		zi := zs[i]
		out[i].P = conditionalP(zs, i, k, perms, rng, others, out[i].I, func(sum float64) float64 { return zi / m2 * sum / float64(k) })
		if out[i].P <= alpha {
			switch {
			case zs[i] > 0 && lag > 0:
				out[i].Class = "high_high"
			case zs[i] < 0 && lag < 0:
				out[i].Class = "low_low"
			case zs[i] > 0:
				out[i].Class = "high_low"
			default:
				out[i].Class = "low_high"
			}
		}
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

// pool is a permutation of the areas' indices and where each one is.
type pool struct{ idx, pos []int }

func newPool(n int) *pool {
	p := &pool{idx: make([]int, n), pos: make([]int, n)}
	for i := range p.idx {
		p.idx[i], p.pos[i] = i, i
	}
	return p
}

func (p *pool) swap(a, b int) {
	p.idx[a], p.idx[b] = p.idx[b], p.idx[a]
	p.pos[p.idx[a]], p.pos[p.idx[b]] = a, b
}
