package risk

import (
	"cmp"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

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
	// InTopSet: the village belongs to the smallest set, taken in the
	// order of p_top, that holds every one of the true top K at once with
	// probability Level (the Bayesian counterpart of Mogstad, Romano,
	// Shaikh and Wilhelm's confidence set for the tau-best). Visiting the
	// set visits the K worst villages, all of them, in Level of the cases;
	// p_top speaks of one village at a time.
	InTopSet bool
}

// RankOptions set the simulation: K (the top-K list), the credible level
// of the inputs' intervals and of the rank intervals, the number of draws,
// the seed (the same inputs and seed give the same bands) and the scale of
// the draws' two halves (the model's estimation.rank_tails).
type RankOptions struct {
	Top   int
	Level float64
	Draws int
	Seed  uint64
	Tails RankTails
	// Curve recalibrates p_top (CalibratePTop; none: the draws' shares
	// as they are): the model's estimation.p_top_curve.
	Curve PTopCurve
	// RankLevel is the level the rank intervals are read at, as draw
	// quantiles (0: Level): the model's estimation.rank_interval_level,
	// fitted so that the intervals cover Level of true ranks in the
	// simulation study.
	RankLevel float64
}

// RankTails scale the lower and upper halves of each village's draws
// relative to its published interval (0 counts as 1: the interval as it
// is). The simulation study measures where the truth falls for the villages
// at the top of a ranking, which decide who is in the top K: below the
// interval's low end more often than nominal and above its high end less
// often (the winner's curse that shrinking each component apart leaves in
// the combined score). riskmap evaluate prints the scales that match the
// truth's 5% and 95% points there (EvaluateRanks, RankCalibration.Fitted);
// the model carries them (docs/methodology.md, "How sure is a rank").
type RankTails struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

func (t RankTails) scales() (lower, upper float64) {
	lower, upper = t.Lower, t.Upper
	if lower == 0 {
		lower = 1
	}
	if upper == 0 {
		upper = 1
	}
	return lower, upper
}

// rankCells bounds draws x villages in RankUncertainty.
const rankCells = 20_000_000

// RankUncertainty returns each village's rank band, in the order of in,
// which must be the ranking's order (the point rank of in[i] is i+1).
//
// Each village's score is drawn from a two-piece normal with its median at
// Score whose lower and upper halves put (1-Level)/2 below Lo and above
// Hi: the published interval as a credible interval, asymmetric as it is,
// its halves scaled by o.Tails.
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
	sl, su := o.Tails.scales()
	lo, hi := make([]float64, n), make([]float64, n)   // the draws' halves
	lo0, hi0 := make([]float64, n), make([]float64, n) // as published
	for i, v := range in {
		lo0[i], hi0[i] = math.Max(v.Score-v.Lo, 0)/z, math.Max(v.Hi-v.Score, 0)/z
		lo[i], hi[i] = sl*lo0[i], su*hi0[i]
	}
	ranks := make([][]int32, n) // village -> its rank in each draw
	for i := range ranks {
		ranks[i] = make([]int32, draws)
	}
	// The draws are made in chunks of rankChunk, each from its own stream
	// of the seed, on every core: the same seed gives the same bands
	// whatever the number of cores.
	chunks := (draws + rankChunk - 1) / rankChunk
	tops := make([][]int, chunks)
	parallelChunks(chunks, func(c int) {
		rng := rand.New(rand.NewPCG(o.Seed, 0x72616e6b+uint64(c)))
		top := make([]int, n)
		keys := make([]uint64, n)
		for d := c * rankChunk; d < min((c+1)*rankChunk, draws); d++ {
			for i, v := range in {
				keys[i] = drawKey(v, lo[i], hi[i], rng, i)
			}
			slices.Sort(keys)
			for r, key := range keys {
				i := int(key & keyIndex)
				ranks[i][d] = int32(r + 1)
				if r < o.Top {
					top[i]++
				}
			}
		}
		tops[c] = top
	})
	top := make([]int, n)
	for _, t := range tops {
		for i, x := range t {
			top[i] += x
		}
	}
	rl := o.RankLevel
	if rl == 0 {
		rl = o.Level
	}
	qlo, qhi := (1-rl)/2, (1+rl)/2
	for i := range in {
		slices.Sort(ranks[i])
	}
	pos, set := topSet(in, lo0, hi0, top, min(o.Top, n), draws, o)
	p := make([]float64, n)
	for i := range in {
		p[i] = float64(top[i]) / float64(draws)
	}
	CalibratePTop(p, o.Curve, min(o.Top, n))
	for i := range in {
		rs := ranks[i]
		at := func(q float64) int {
			return int(rs[min(int(math.Floor(q*float64(draws))), draws-1)])
		}
		out[i] = RankBand{
			RankLow:  min(at(qlo), i+1),
			RankHigh: max(at(qhi), i+1),
			PTop:     p[i],
			InTopSet: pos[i] < set,
		}
	}
	return out
}

// PTopCurve is a calibration curve of p_top: knots [p, q] that say the
// villages the draws give p are truly among the top K with probability q,
// measured by the simulation study (riskmap evaluate --fit-curve). Between
// knots, and from (0, 0) and to (1, 1), it is linear. The p are strictly
// increasing in (0, 1), the q non-decreasing in [0, 1] (ParseModel checks).
type PTopCurve [][2]float64

// at maps p through the curve.
func (c PTopCurve) at(p float64) float64 {
	x0, y0 := 0.0, 0.0
	for _, k := range append(c, [2]float64{1, 1}) {
		if p <= k[0] {
			if k[0] == x0 {
				return k[1]
			}
			return y0 + (p-x0)*(k[1]-y0)/(k[0]-x0)
		}
		x0, y0 = k[0], k[1]
	}
	return 1
}

// CalibratePTop recalibrates the probabilities p of being among the top k,
// in place: each p through the curve, then logit(p') = logit(curve(p)) +
// b, with b such that the p' add up to k again (found by bisection). 0 and
// 1 stay as they are (a village in, or out of, the top K in every draw).
// The map is monotone, so the order of p, and the top-K set taken in it,
// is unchanged. An empty curve leaves p alone.
func CalibratePTop(p []float64, c PTopCurve, k int) {
	if len(c) == 0 || k <= 0 {
		return
	}
	var fixed float64 // the mass of the p at 0 or 1
	var logits []float64
	var idx []int
	for i, x := range p {
		if x <= 0 || x >= 1 {
			fixed += max(x, 0)
			continue
		}
		q := math.Min(math.Max(c.at(x), 1e-6), 1-1e-6)
		logits = append(logits, math.Log(q/(1-q)))
		idx = append(idx, i)
	}
	want := float64(k) - fixed
	if len(idx) == 0 || want <= 0 || want >= float64(len(idx)) {
		return
	}
	sum := func(b float64) float64 {
		var s float64
		for _, l := range logits {
			s += 1 / (1 + math.Exp(-(l + b)))
		}
		return s
	}
	lo, hi := -50.0, 50.0
	for range 100 {
		mid := (lo + hi) / 2
		if sum(mid) < want {
			lo = mid
		} else {
			hi = mid
		}
	}
	b := (lo + hi) / 2
	for j, i := range idx {
		p[i] = 1 / (1 + math.Exp(-(logits[j] + b)))
	}
}

// topSet finds the top-K set (RankBand.InTopSet): villages in the order
// of p_top (top counts the draws each was in the top K; ties in the
// ranking's order); in every draw, the depth of that order its top K
// reach; the set is as deep as o.Level of the draws reach. It returns each
// village's place in that order and the set's size.
//
// The depth is read on a second, independent set of draws: read on the
// draws p_top came from, it would fit their noise. These draws take the
// intervals as published (lo, hi), not scaled by o.Tails: the scales are
// fitted where p_top is decided, at the top of the ranking, while the set
// must also catch the truly worst villages hidden among low estimates,
// whose truth lies above the interval more often than nominal
// (docs/methodology.md).
func topSet(in []RankInput, lo, hi []float64, top []int, k, draws int, o RankOptions) (pos []int, size int) {
	n := len(in)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(top[b], top[a]) })
	pos = make([]int, n)
	for p, i := range order {
		pos[i] = p
	}
	if k < 1 {
		return pos, 0
	}
	reach := make([]int, draws)
	parallelChunks((draws+rankChunk-1)/rankChunk, func(c int) {
		rng := rand.New(rand.NewPCG(o.Seed, 0x746f70736574+uint64(c)))
		best := make([]uint64, 0, k+1) // the draw's top K keys, in order
		for d := c * rankChunk; d < min((c+1)*rankChunk, draws); d++ {
			best = best[:0]
			for i, v := range in {
				key := drawKey(v, lo[i], hi[i], rng, i)
				if len(best) == k && key >= best[k-1] {
					continue
				}
				j, _ := slices.BinarySearch(best, key)
				best = slices.Insert(best, j, key)
				if len(best) > k {
					best = best[:k]
				}
			}
			for _, key := range best {
				reach[d] = max(reach[d], pos[int(key&keyIndex)]+1)
			}
		}
	})
	slices.Sort(reach)
	return pos, reach[min(int(math.Ceil(o.Level*float64(draws)))-1, draws-1)]
}

// drawKey draws a village's score once and returns it as a sort key:
// ascending keys are descending scores, ties in the ranking's order (the
// village's index in the low 24 bits, below the score's first 40 bits:
// draws closer than a few parts in a billion count as tied).
func drawKey(v RankInput, lo, hi float64, rng *rand.Rand, i int) uint64 {
	e := rng.NormFloat64()
	x := v.Score + e*hi
	if e < 0 {
		x = v.Score + e*lo
	}
	// IEEE 754 bits in ascending order, then inverted for descending
	b := math.Float64bits(x)
	if b>>63 == 1 {
		b = ^b
	} else {
		b |= 1 << 63
	}
	return ^b&^keyIndex | uint64(i)
}

// keyIndex masks the village's index in a draw's key.
const keyIndex = 1<<24 - 1

// rankChunk is how many draws one stream of the seed makes.
const rankChunk = 125

// parallelChunks runs f(0..chunks-1) on every core.
func parallelChunks(chunks int, f func(c int)) {
	next := make(chan int, chunks)
	for c := range chunks {
		next <- c
	}
	close(next)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				f(c)
			}
		}()
	}
	wg.Wait()
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
