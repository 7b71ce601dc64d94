package risk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestRankUncertainty(t *testing.T) {
	o := RankOptions{Top: 3, Level: 0.9, Draws: 2000, Seed: 1}
	for _, c := range []struct {
		name  string
		in    []RankInput
		check func(t *testing.T, b []RankBand)
	}{
		{"far apart: sure of every place", []RankInput{{50, 49, 51}, {40, 39, 41}, {30, 29, 31}, {20, 19, 21}, {10, 9, 11}},
			func(t *testing.T, b []RankBand) {
				for i, x := range b {
					if x.RankLow != i+1 || x.RankHigh != i+1 {
						t.Errorf("village %d: ranks %d-%d, want exactly %d", i+1, x.RankLow, x.RankHigh, i+1)
					}
					if want := map[bool]float64{true: 1, false: 0}[i < 3]; x.PTop != want {
						t.Errorf("village %d: p_top %v, want %v", i+1, x.PTop, want)
					}
				}
			}},
		{"the same score and interval: cannot be told apart", []RankInput{{30, 20, 40}, {30, 20, 40}, {30, 20, 40}, {30, 20, 40}, {30, 20, 40}, {30, 20, 40}},
			func(t *testing.T, b []RankBand) {
				for i, x := range b {
					if math.Abs(x.PTop-0.5) > 0.05 {
						t.Errorf("village %d: p_top %.3f, want about 3/6", i+1, x.PTop)
					}
					if x.RankLow > 2 || x.RankHigh < 5 {
						t.Errorf("village %d: ranks %d-%d, want about 1-6", i+1, x.RankLow, x.RankHigh)
					}
				}
			}},
		{"no interval: the point order", []RankInput{{5, 5, 5}, {4, 4, 4}, {3, 3, 3}, {2, 2, 2}},
			func(t *testing.T, b []RankBand) {
				for i, x := range b {
					if x.RankLow != i+1 || x.RankHigh != i+1 {
						t.Errorf("village %d: ranks %d-%d", i+1, x.RankLow, x.RankHigh)
					}
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, RankUncertainty(c.in, o)) })
	}
}

// TestRankUncertaintyInvariants: on random rankings, every band holds its
// point rank, p_top is a probability, the p_top add up to K, and the same
// seed gives the same bands.
func TestRankUncertaintyInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for rep := range 20 {
		n := 5 + rng.IntN(200)
		in := make([]RankInput, n)
		s := 80.0
		for i := range in {
			s -= rng.Float64() * 2
			in[i] = RankInput{Score: s, Lo: s - rng.Float64()*15, Hi: s + rng.Float64()*15}
		}
		o := RankOptions{Top: min(10, n), Level: 0.9, Draws: 500, Seed: uint64(rep)}
		b := RankUncertainty(in, o)
		var sum float64
		var inSet int
		for i, x := range b {
			if x.RankLow > i+1 || x.RankHigh < i+1 || x.RankLow < 1 || x.RankHigh > n {
				t.Fatalf("n=%d village %d: ranks %d-%d", n, i+1, x.RankLow, x.RankHigh)
			}
			if x.InTopSet {
				inSet++
			}
			if x.PTop < 0 || x.PTop > 1 {
				t.Fatalf("p_top %v", x.PTop)
			}
			sum += x.PTop
		}
		if inSet < o.Top {
			t.Errorf("n=%d: the top-%d set holds %d villages", n, o.Top, inSet)
		}
		if math.Abs(sum-float64(o.Top)) > 1e-9 {
			t.Errorf("n=%d: p_top add up to %v, want %d", n, sum, o.Top)
		}
		again := RankUncertainty(in, o)
		for i := range b {
			if b[i] != again[i] {
				t.Fatalf("the same seed gave %+v and %+v", b[i], again[i])
			}
		}
	}
}

// TestRankUncertaintyCalibrated: when the inputs are posteriors of the
// truth (as the published empirical-Bayes scores are meant to be), p_top
// is calibrated (of villages given
// about p, about p are truly top K) and 90% rank intervals cover about
// 90% of true ranks. This checks the simulation, not the model behind the
// intervals; riskmap evaluate checks that over simulated surveys. (With
// the raw estimates and their standard errors instead of posteriors, the
// top decile of p_top is truly top 10 only 77% of the time: the winner's
// curse.)
func TestRankUncertaintyCalibrated(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const k = 10
	var bins [10]struct{ p, hit, n float64 }
	var covered, total, allCovered float64
	for rep := range 400 {
		n := 120
		truth := make([]float64, n)
		in := make([]RankInput, n)
		for i := range truth {
			truth[i] = 20 + rng.NormFloat64()*8
			// A survey's estimate, and its empirical-Bayes posterior (as
			// the published scores are): shrunk toward the mean.
			w := 3 + rng.Float64()*6
			est := truth[i] + rng.NormFloat64()*w
			b := 64 / (64 + w*w)
			post, sd := 20+b*(est-20), math.Sqrt(b)*w
			in[i] = RankInput{Score: post, Lo: post - 1.645*sd, Hi: post + 1.645*sd}
		}
		// the ranking's order: by the estimate
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		sortBy(order, func(i int) float64 { return -in[i].Score })
		sorted := make([]RankInput, n)
		for r, i := range order {
			sorted[r] = in[i]
		}
		b := RankUncertainty(sorted, RankOptions{Top: k, Level: 0.9, Draws: 400, Seed: uint64(rep)})
		trueRank := make([]int, n)
		byTruth := make([]int, n)
		for i := range byTruth {
			byTruth[i] = i
		}
		sortBy(byTruth, func(i int) float64 { return -truth[i] })
		for r, i := range byTruth {
			trueRank[i] = r + 1
		}
		every := 1.0
		for r, i := range order {
			x := b[r]
			tr := trueRank[i]
			if tr <= k && !x.InTopSet {
				every = 0
			}
			if tr >= x.RankLow && tr <= x.RankHigh {
				covered++
			}
			total++
			bin := min(int(x.PTop*10), 9)
			bins[bin].p += x.PTop
			bins[bin].n++
			if tr <= k {
				bins[bin].hit++
			}
		}
		allCovered += every
	}
	if c := covered / total; c < 0.87 || c > 0.97 {
		t.Errorf("90%% rank intervals cover %.3f of true ranks", c)
	}
	// The 90% top-K set holds every one of the true top K in about 90%
	// of the rankings.
	if c := allCovered / 400; c < 0.86 || c > 0.95 {
		t.Errorf("the 90%% top-%d set holds the whole true top %d in %.3f of the rankings", k, k, c)
	}
	for i, b := range bins {
		if b.n < 200 {
			continue
		}
		if d := math.Abs(b.p/b.n - b.hit/b.n); d > 0.05 {
			t.Errorf("p_top decile %d: mean p_top %.3f, truly top %d: %.3f (n=%v)", i, b.p/b.n, k, b.hit/b.n, b.n)
		}
	}
	t.Logf("rank interval coverage %.3f, top-K set %.3f", covered/total, allCovered/400)
}

func sortBy(xs []int, key func(int) float64) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && key(xs[j]) < key(xs[j-1]); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

// TestRankTails: the draws' halves scale as the model says. Absent scales
// are the interval as published; a lighter upper half makes a village
// behind the top K less likely to draw into it and a heavier lower half
// makes the leaders less sure; the p_top still add up to K.
func TestRankTails(t *testing.T) {
	in := []RankInput{{50, 44, 56}, {48, 42, 54}, {46, 40, 52}, {40, 34, 46}, {38, 32, 44}}
	o := RankOptions{Top: 2, Level: 0.9, Draws: 4000, Seed: 5}
	plain := RankUncertainty(in, o)
	o.Tails = RankTails{Lower: 1, Upper: 1}
	if ones := RankUncertainty(in, o); !slicesEqual(ones, plain) {
		t.Errorf("tails 1, 1 = %v, absent = %v: want the same", ones, plain)
	}
	o.Tails = RankTails{Lower: 1.1, Upper: 0.8}
	scaled := RankUncertainty(in, o)
	if scaled[3].PTop >= plain[3].PTop || scaled[4].PTop >= plain[4].PTop {
		t.Errorf("the fourth and fifth villages' p_top %.3f, %.3f with a lighter upper half, %.3f, %.3f without: want less",
			scaled[3].PTop, scaled[4].PTop, plain[3].PTop, plain[4].PTop)
	}
	if sum := scaled[0].PTop + scaled[1].PTop + scaled[2].PTop + scaled[3].PTop + scaled[4].PTop; math.Abs(sum-2) > 1e-9 {
		t.Errorf("p_top add up to %v, want 2", sum)
	}
	if _, err := ParseModel([]byte(`{"estimation": {"rank_tails": {"exact": {"lower": 3}}}}`), "tails.json"); err == nil || !strings.Contains(err.Error(), "rank_tails.exact") {
		t.Errorf("rank_tails.lower 3 accepted or not named: %v", err)
	}
}

// TestCalibratePTop: the curve maps p_top and the result still adds up to
// K, keeps the order and the villages in (or out of) the top K in every
// draw; no curve changes nothing; a curve that says the middle is under-
// confident raises it.
func TestCalibratePTop(t *testing.T) {
	base := []float64{1, 0.93, 0.7, 0.55, 0.4, 0.25, 0.1, 0.05, 0.02, 0, 0} // adds up to 4
	curves := map[string]PTopCurve{
		"none":     nil,
		"identity": {{0.25, 0.25}, {0.75, 0.75}},
		"sharper":  {{0.1, 0.08}, {0.35, 0.3}, {0.65, 0.72}, {0.85, 0.9}},
		"flatter":  {{0.1, 0.12}, {0.9, 0.85}},
	}
	for name, c := range curves {
		p := slices.Clone(base)
		CalibratePTop(p, c, 4)
		var sum float64
		for i, x := range p {
			sum += x
			if i > 0 && x > p[i-1] {
				t.Errorf("%s: order broken at %d: %v", name, i, p)
			}
			if (base[i] == 0 || base[i] == 1) && x != base[i] {
				t.Errorf("%s: p %v moved to %v", name, base[i], x)
			}
		}
		if math.Abs(sum-4) > 1e-9 {
			t.Errorf("%s: sum %v, want 4", name, sum)
		}
		switch name {
		case "none", "identity":
			for i := range p {
				if math.Abs(p[i]-base[i]) > 1e-6 {
					t.Errorf("%s changed p: %v", name, p)
					break
				}
			}
		case "sharper":
			if !(p[2] > base[2] && p[6] < base[6]) {
				t.Errorf("%s: %v", name, p)
			}
		case "flatter":
			if !(p[1] < base[1] && p[7] > base[7]) {
				t.Errorf("%s: %v", name, p)
			}
		}
	}
	for _, c := range []struct {
		p, want float64
	}{{0, 0}, {0.05, 0.04}, {0.1, 0.08}, {0.5, 0.51}, {0.85, 0.9}, {0.95, 0.9 + 0.1*2/3}, {1, 1}} {
		if got := curves["sharper"].at(c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("curve at %v = %v, want %v", c.p, got, c.want)
		}
	}
	// Through RankUncertainty: the same draws, p_top recalibrated, the
	// rank intervals and the top-K set unchanged.
	in := []RankInput{{50, 44, 56}, {48, 42, 54}, {46, 40, 52}, {40, 34, 46}, {38, 32, 44}}
	o := RankOptions{Top: 2, Level: 0.9, Draws: 4000, Seed: 5}
	plain := RankUncertainty(in, o)
	o.Curve = curves["sharper"]
	sharp := RankUncertainty(in, o)
	var sum float64
	for i := range in {
		sum += sharp[i].PTop
		if sharp[i].RankLow != plain[i].RankLow || sharp[i].RankHigh != plain[i].RankHigh || sharp[i].InTopSet != plain[i].InTopSet {
			t.Errorf("village %d: %+v calibrated, %+v plain: only p_top may change", i, sharp[i], plain[i])
		}
	}
	if math.Abs(sum-2) > 1e-9 || slicesEqual(sharp, plain) {
		t.Errorf("calibrated p_top %v (sum %v), plain %v", sharp, sum, plain)
	}
	for _, bad := range []string{`[[0.5, 0.5], [0.4, 0.6]]`, `[[0, 0.1]]`, `[[0.3, 0.5], [0.6, 0.4]]`, `[[0.3, 1.2]]`} {
		_, err := ParseModel([]byte(`{"estimation": {"p_top_curve": {"published": `+bad+`}}}`), "curve.json")
		if err == nil || !strings.Contains(err.Error(), "p_top_curve.published") {
			t.Errorf("curve %s accepted or not named: %v", bad, err)
		}
	}
}

// TestRankLevel: the rank intervals read at a wider level are at least as
// wide, from the same draws, with p_top and the set unchanged.
func TestRankLevel(t *testing.T) {
	in := []RankInput{{50, 44, 56}, {48, 42, 54}, {46, 40, 52}, {45, 39, 51}, {40, 34, 46}, {38, 32, 44}, {37, 31, 43}}
	o := RankOptions{Top: 3, Level: 0.9, Draws: 4000, Seed: 9}
	plain := RankUncertainty(in, o)
	o.RankLevel = 0.9
	if same := RankUncertainty(in, o); !slicesEqual(same, plain) {
		t.Errorf("rank level 0.9 = level 0.9 should change nothing: %v, %v", same, plain)
	}
	o.RankLevel = 0.96
	wide := RankUncertainty(in, o)
	wider := false
	for i := range in {
		if wide[i].RankLow > plain[i].RankLow || wide[i].RankHigh < plain[i].RankHigh || wide[i].PTop != plain[i].PTop || wide[i].InTopSet != plain[i].InTopSet {
			t.Errorf("village %d: %+v at 0.96, %+v at 0.9", i, wide[i], plain[i])
		}
		wider = wider || wide[i].RankHigh-wide[i].RankLow > plain[i].RankHigh-plain[i].RankLow
	}
	if !wider {
		t.Errorf("no interval got wider at 0.96: %v", wide)
	}
	if _, err := ParseModel([]byte(`{"estimation": {"level": 0.9, "rank_interval_level": {"exact": 0.8}}}`), "rl.json"); err == nil || !strings.Contains(err.Error(), "rank_interval_level.exact") {
		t.Errorf("rank_interval_level 0.8 under level 0.9 accepted or not named: %v", err)
	}
}

func slicesEqual(a, b []RankBand) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BenchmarkRankUncertainty: one ranking's bands, p_top and top-10 set, as
// /targets/villages computes them (2,000 draws, fewer past 10,000 villages:
// rankCells), for the published ranking of the three kabupaten (about 400
// villages), every village of them (783), East Java (8,492) and Indonesia
// (83,402). The bands are cached per data version and request.
func BenchmarkRankUncertainty(b *testing.B) {
	for _, n := range []int{400, 783, 8492, 83402} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		in := make([]RankInput, n)
		s := 60.0
		for i := range in {
			s -= rng.Float64() * 40 / float64(n)
			w := 2 + rng.Float64()*10
			in[i] = RankInput{Score: s, Lo: s - w, Hi: s + w*0.9}
		}
		o := RankOptions{Top: 10, Level: 0.9, Draws: 2000, Seed: 1, Tails: RankTails{Lower: 1.1, Upper: 0.79}}
		b.Run(fmt.Sprintf("villages=%d", n), func(b *testing.B) {
			for b.Loop() {
				RankUncertainty(in, o)
			}
			b.ReportMetric(float64(min(o.Draws, rankCells/n)), "draws")
		})
	}
}
