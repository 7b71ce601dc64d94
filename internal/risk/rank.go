package risk

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// Rank uncertainty (docs/methodology.md, "How sure is a rank"). A ranking
// of villages by estimated score reads as a crisp order, but most of that
// order is noise at the programme's sample sizes. RankUncertainty says how
// sure each place is: a 90% interval for the village's rank and its
// probability of being among the top K, by simulation from each village's
// score and its interval, as published. Everything it uses is published,
// so anyone can compute it again and it discloses nothing new.

// RankInput is one ranked village: its score (the ranking's key) and the
// interval of that score at the ranking's level (Lo <= Score <= Hi).
type RankInput struct {
	Score, Lo, Hi float64
}

// RankBand is a village's rank interval (1 = worst) and its probability of
// being among the top K.
type RankBand struct {
	RankLow, RankHigh int
	PTop              float64
}

// RankOptions set the simulation: K (the top-K list), the credible level
// of the inputs' intervals and of the rank intervals, the number of draws
// and the seed (the same inputs and seed give the same bands).
type RankOptions struct {
	Top   int
	Level float64
	Draws int
	Seed  uint64
}

// rankCells bounds draws x villages in RankUncertainty.
const rankCells = 20_000_000

// RankUncertainty returns each village's rank band, in the order of in,
// which must be the ranking's order (the point rank of in[i] is i+1).
//
// Each village's score is drawn from a two-piece normal with its median at
// Score whose lower and upper halves put (1-Level)/2 below Lo and above
// Hi: the published interval as a credible interval, asymmetric as it is.
// Villages are drawn independently (the shrinkage's shared prior means
// make neighbours' errors correlated; independence widens rank intervals
// slightly where neighbours compete). In every draw the villages are
// ranked; a village's rank interval is the (1-Level)/2 and (1+Level)/2
// quantiles of its ranks, widened to contain its point rank, and its p_top
// the share of draws that put it among the top K. In every draw exactly K
// villages are in the top K, so the p_top of all villages add up to K.
func RankUncertainty(in []RankInput, o RankOptions) []RankBand {
	n := len(in)
	out := make([]RankBand, n)
	if n == 0 {
		return out
	}
	// The ranks of every draw are kept to find each village's quantiles:
	// at most rankCells of them (80 MB), so the whole country's 83,000
	// villages get fewer draws than a kabupaten's.
	draws := max(min(o.Draws, rankCells/n), 1)
	z := distuv.UnitNormal.Quantile(1 - (1-o.Level)/2)
	lo, hi := make([]float64, n), make([]float64, n)
	for i, v := range in {
		lo[i], hi[i] = math.Max(v.Score-v.Lo, 0)/z, math.Max(v.Hi-v.Score, 0)/z
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x72616e6b))
	ranks := make([][]int32, n) // village -> its rank in each draw
	for i := range ranks {
		ranks[i] = make([]int32, draws)
	}
	top := make([]int, n)
	idx := make([]int, n)
	val := make([]float64, n)
	for d := range draws {
		for i, v := range in {
			e := rng.NormFloat64()
			if e < 0 {
				val[i] = v.Score + e*lo[i]
			} else {
				val[i] = v.Score + e*hi[i]
			}
			idx[i] = i
		}
		// Ties (identical draws, as for villages with no interval) keep
		// the ranking's order.
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(val[b], val[a]) })
		for r, i := range idx {
			ranks[i][d] = int32(r + 1)
			if r < o.Top {
				top[i]++
			}
		}
	}
	qlo, qhi := (1-o.Level)/2, (1+o.Level)/2
	for i := range in {
		rs := ranks[i]
		slices.Sort(rs)
		at := func(q float64) int {
			return int(rs[min(int(math.Floor(q*float64(draws))), draws-1)])
		}
		out[i] = RankBand{
			RankLow:  min(at(qlo), i+1),
			RankHigh: max(at(qhi), i+1),
			PTop:     float64(top[i]) / float64(draws),
		}
	}
	return out
}

// TopCertainty says in plain Indonesian how sure a village is to be in
// the top K, for the map and the reports: "pasti" (at least 0.9), "mungkin"
// (0.1 to 0.9), "kecil kemungkinan" (under 0.1).
func TopCertainty(p float64) string {
	switch {
	case p >= 0.9:
		return "pasti"
	case p >= 0.1:
		return "mungkin"
	default:
		return "kecil kemungkinan"
	}
}
