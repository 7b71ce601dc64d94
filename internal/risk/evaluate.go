package risk

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// EvalRules are the rankings the simulation compares: the old rule; the
// small-area estimates on exact counts, every surveyed village ranked (what
// staff, who may see exact figures, are given); and the published ranking
// (minimum sample, counts rounded to 5, small-area estimates of published
// counts: what the public and planners are given); each of the last two by
// its score or by the low end of the score's interval (_low); tiered ranks
// villages under the minimum sample after all the others, by score.
var EvalRules = []string{"old", "estimated", "estimated_low", "estimated_tiered", "published", "published_low"}

// EvalVillage is a village of the simulation: its place in the hierarchy.
type EvalVillage struct{ Code, Kecamatan, Kabupaten string }

// EvalOptions set up the simulation study of targeting accuracy.
type EvalOptions struct {
	Replications int
	Households   int // surveyed in all, spread very unequally over villages
	Seed         uint64
}

// RuleAccuracy is how well one ranking rule recovers the truly worst
// villages, averaged over replications.
type RuleAccuracy struct {
	Rule                    string
	PrecisionAt             map[int]float64 // share of the true worst K among the rule's top K
	Spearman                float64         // rank correlation with the true scores, over the villages the rule ranks
	Ranked                  float64         // villages ranked, on average
	SmallInTop10            float64         // villages with fewer than 10 surveyed households among the top 10
	WorstFoundSurveyedTop10 float64         // of the true worst 10 surveyed villages, how many the top 10 holds
}

// Evaluate runs the simulation study of docs/methodology.md ("How well the
// ranking finds the worst villages"): a synthetic truth over the given
// villages (prevalence, household shares and mean scores varying by
// kabupaten, kecamatan and village), surveys of very unequal sizes, and two
// rankings of the surveyed villages against the true village scores: the
// rules of EvalRules against the true village scores.
func Evaluate(villages []EvalVillage, m *Model, o EvalOptions) []RuleAccuracy {
	rng := rand.New(rand.NewPCG(o.Seed, 0x65766c))
	ks := []int{10, 25, 50}
	acc := map[string]*RuleAccuracy{}
	for _, r := range EvalRules {
		acc[r] = &RuleAccuracy{Rule: r, PrecisionAt: map[int]float64{}}
	}
	for rep := 0; rep < o.Replications; rep++ {
		truth, est, _ := simulate(villages, m, o, rng)
		for rule, scores := range est {
			a := acc[rule]
			surveyed := map[string]bool{}
			for c := range truth.surveyed {
				surveyed[c] = true
			}
			trueOrder := order(truth.score, surveyed)
			ranked := order(scores, nil)
			for _, k := range ks {
				a.PrecisionAt[k] += overlap(trueOrder, ranked, k) / float64(k)
			}
			a.Spearman += spearman(scores, truth.score)
			a.Ranked += float64(len(scores))
			for _, c := range ranked[:min(10, len(ranked))] {
				if truth.households[c] < 10 {
					a.SmallInTop10++
				}
			}
			a.WorstFoundSurveyedTop10 += overlap(trueOrder, ranked, 10)
		}
	}
	var out []RuleAccuracy
	for _, rule := range EvalRules {
		a := acc[rule]
		r := float64(o.Replications)
		for _, k := range ks {
			a.PrecisionAt[k] /= r
		}
		a.Spearman /= r
		a.Ranked /= r
		a.SmallInTop10 /= r
		a.WorstFoundSurveyedTop10 /= r
		out = append(out, *a)
	}
	return out
}

type simTruth struct {
	score      map[string]float64
	households map[string]int
	surveyed   map[string]bool
}

func logistic(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
func logit(p float64) float64    { return math.Log(p / (1 - p)) }

func simulate(villages []EvalVillage, m *Model, o EvalOptions, rng *rand.Rand) (simTruth, map[string]map[string]float64, map[string]map[string]RankInput) {
	effect := map[string]float64{}
	eff := func(key string, sd float64) float64 {
		if v, ok := effect[key]; ok {
			return v
		}
		v := rng.NormFloat64() * sd
		effect[key] = v
		return v
	}
	w, full := m.Village.Weights, m.Village.FullAt
	t := simTruth{score: map[string]float64{}, households: map[string]int{}, surveyed: map[string]bool{}}
	// Sample sizes: lognormal, so most villages get a handful of households
	// and a few get hundreds; a fifth are not surveyed at all.
	sizes := make([]float64, len(villages))
	total := 0.0
	for i := range villages {
		if rng.Float64() < 0.2 {
			continue
		}
		sizes[i] = math.Exp(rng.NormFloat64() * 1.3)
		total += sizes[i]
	}
	areas := make([]AreaCounts, 0, len(villages)+100)
	in := map[string]AreaInput{}
	type obs struct{ x, n, lab, pov, hh, meanSum float64 }
	observed := map[string]obs{}
	parents := map[string]AreaCounts{}
	for i, v := range villages {
		p := logistic(logit(0.08) + eff("kab"+v.Kabupaten, 0.4) + eff("kec"+v.Kecamatan, 0.5) + rng.NormFloat64()*0.5)
		q := logistic(logit(0.45) + eff("qk"+v.Kecamatan, 0.4) + rng.NormFloat64()*0.4)
		r := logistic(logit(0.35) + eff("rk"+v.Kecamatan, 0.4) + rng.NormFloat64()*0.4)
		mu := 25 + 60*p + 10*(q-0.45) + rng.NormFloat64()*3
		tob := math.Min(rng.Float64()*0.4, 1)
		inst := rng.IntN(4)
		comp := func(name string, x float64) float64 { return w[name] * math.Min(x/full[name], 1) }
		t.score[v.Code] = comp("prevalence", p) + comp("mean_household_score", mu) + comp("tobacco_share", tob) +
			comp("farm_labourer_share", q) + comp("poverty_share", r) + comp("institutions_missing", float64(inst))
		n := int(math.Round(sizes[i] / math.Max(total, 1) * float64(o.Households)))
		var ob obs
		for h := 0; h < n; h++ {
			ob.hh++
			if rng.Float64() < q {
				ob.lab++
			}
			if rng.Float64() < r {
				ob.pov++
			}
			ob.meanSum += math.Min(math.Max(mu+rng.NormFloat64()*15, 0), 100)
			kids := poisson(rng, 2.3)
			for c := 0; c < kids; c++ {
				ob.n++
				if rng.Float64() < p {
					ob.x++
				}
			}
		}
		t.households[v.Code] = n
		if n > 0 {
			t.surveyed[v.Code] = true
		}
		observed[v.Code] = ob
		counts := map[string]int{"households": int(ob.hh), "children": int(ob.n), "hazardous": int(ob.x),
			"not_working": int(ob.n - ob.x), "labourer_households": int(ob.lab), "poor_households": int(ob.pov)}
		area := AreaID(LevelDesa, v.Code)
		areas = append(areas, AreaCounts{Area: area, Parent: AreaID(LevelKecamatan, v.Kecamatan), Leaf: true, Counts: counts})
		ai := AreaInput{Level: LevelDesa, Kecamatan: v.Kecamatan, Kabupaten: v.Kabupaten, TobaccoShare: &tob,
			InstitutionsMissing: inst, Calendar: m.Calendar[m.DefaultVariety]}
		if ob.hh > 0 {
			mean := math.Round(ob.meanSum/ob.hh/m.Publication.ScoreStep) * m.Publication.ScoreStep
			ai.MeanScore = &mean
		}
		in[area] = ai
		for _, pa := range []struct{ id, parent string }{{AreaID(LevelKecamatan, v.Kecamatan), AreaID(LevelKabupaten, v.Kabupaten)}, {AreaID(LevelKabupaten, v.Kabupaten), ""}} {
			a, ok := parents[pa.id]
			if !ok {
				a = AreaCounts{Area: pa.id, Parent: pa.parent, Counts: map[string]int{}}
			}
			for k, c := range counts {
				a.Counts[k] += c
			}
			parents[pa.id] = a
		}
	}
	keys := make([]string, 0, len(parents))
	for k := range parents {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		areas = append(areas, parents[k])
		in[k] = AreaInput{Level: "parent"}
	}
	// The published ranking: riskmap's publication.
	newScores, newLow := map[string]float64{}, map[string]float64{}
	intervals := map[string]map[string]RankInput{"published": {}, "estimated": {}}
	if pub, _, err := Publish(areas, m.Publication); err == nil {
		figs := PublishFigures(areas, pub, in, m, 15*15, Published)
		for _, v := range villages {
			if f := figs[AreaID(LevelDesa, v.Code)]; f.Score != nil {
				newScores[v.Code] = *f.Score
				newLow[v.Code] = *f.ScoreLo + *f.Score/1000 // ties by the score
				intervals["published"][v.Code] = RankInput{Score: *f.Score, Lo: *f.ScoreLo, Hi: *f.ScoreHi}
			}
		}
	}
	// The estimated ranking: the same estimators on exact counts, every
	// surveyed village with children ranked.
	exact := map[string]PublishedArea{}
	for _, a := range areas {
		p := PublishedArea{Eligible: a.Counts["households"] > 0 && a.Counts["children"] > 0, Values: map[string]*int{}}
		for _, ms := range CountMeasures {
			v := a.Counts[ms]
			p.Values[ms] = &v
		}
		exact[a.Area] = p
	}
	estScores, estLow, estTiered := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for id, f := range PublishFigures(areas, exact, in, m, 15*15, Exact) {
		if level, c, _ := SplitAreaID(id); f.Score != nil && level == LevelDesa {
			estScores[c] = *f.Score
			estLow[c] = *f.ScoreLo + *f.Score/1000
			intervals["estimated"][c] = RankInput{Score: *f.Score, Lo: *f.ScoreLo, Hi: *f.ScoreHi}
			estTiered[c] = *f.Score
			if t.households[c] < m.Publication.MinHouseholds {
				estTiered[c] -= 1000
			}
		}
	}
	// The old rule: raw means and shares, prevalence smoothed by Marshall's
	// estimator toward the kecamatan, every surveyed village ranked.
	type kec struct{ x, n, k float64 }
	ks := map[string]*kec{}
	for _, v := range villages {
		ob := observed[v.Code]
		if ob.n == 0 {
			continue
		}
		a := ks[v.Kecamatan]
		if a == nil {
			a = &kec{}
			ks[v.Kecamatan] = a
		}
		a.x, a.n, a.k = a.x+ob.x, a.n+ob.n, a.k+1
	}
	spread := map[string]float64{}
	for _, v := range villages {
		ob := observed[v.Code]
		if ob.n == 0 {
			continue
		}
		a := ks[v.Kecamatan]
		p := a.x / a.n
		spread[v.Kecamatan] += ob.n * math.Pow(ob.x/ob.n-p, 2)
	}
	oldScores := map[string]float64{}
	for _, v := range villages {
		ob := observed[v.Code]
		if ob.hh == 0 {
			continue
		}
		smoothed := 0.0
		if ob.n > 0 {
			a := ks[v.Kecamatan]
			p := a.x / a.n
			A := math.Max(spread[v.Kecamatan]/a.n-p/(a.n/a.k), 0)
			smoothed = p
			if p > 0 && A+p/ob.n > 0 {
				smoothed = p + A/(A+p/ob.n)*(ob.x/ob.n-p)
			}
		}
		ai := in[AreaID(LevelDesa, v.Code)]
		comp := func(name string, x float64) float64 { return w[name] * math.Min(x/full[name], 1) }
		oldScores[v.Code] = comp("prevalence", smoothed) + comp("mean_household_score", ob.meanSum/ob.hh) +
			comp("tobacco_share", *ai.TobaccoShare) + comp("farm_labourer_share", ob.lab/ob.hh) +
			comp("poverty_share", ob.pov/ob.hh) + comp("institutions_missing", float64(ai.InstitutionsMissing))
	}
	return t, map[string]map[string]float64{"old": oldScores, "estimated": estScores, "estimated_low": estLow, "estimated_tiered": estTiered,
		"published": newScores, "published_low": newLow}, intervals
}

func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// order returns the codes of scores from the highest, restricted to keep
// when it is not nil, ties broken by code.
func order(scores map[string]float64, keep map[string]bool) []string {
	var out []string
	for c := range scores {
		if keep == nil || keep[c] {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if scores[out[i]] != scores[out[j]] {
			return scores[out[i]] > scores[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

func overlap(a, b []string, k int) float64 {
	top := map[string]bool{}
	for _, c := range a[:min(k, len(a))] {
		top[c] = true
	}
	n := 0.0
	for _, c := range b[:min(k, len(b))] {
		if top[c] {
			n++
		}
	}
	return n
}

// spearman is the rank correlation of est with truth over est's villages.
func spearman(est, truth map[string]float64) float64 {
	codes := make([]string, 0, len(est))
	for c := range est {
		codes = append(codes, c)
	}
	if len(codes) < 3 {
		return 0
	}
	rank := func(v map[string]float64) map[string]float64 {
		o := append([]string{}, codes...)
		sort.Slice(o, func(i, j int) bool { return v[o[i]] < v[o[j]] })
		r := map[string]float64{}
		for i := 0; i < len(o); {
			j := i
			for j+1 < len(o) && v[o[j+1]] == v[o[i]] {
				j++
			}
			for k := i; k <= j; k++ {
				r[o[k]] = float64(i+j)/2 + 1
			}
			i = j + 1
		}
		return r
	}
	re, rt := rank(est), rank(truth)
	n := float64(len(codes))
	var d2 float64
	for _, c := range codes {
		d2 += (re[c] - rt[c]) * (re[c] - rt[c])
	}
	return 1 - 6*d2/(n*(n*n-1))
}

// RankCalibration is how well the published and the estimated rankings'
// uncertainty matches the simulated truth (docs/methodology.md, "How sure
// is a rank").
type RankCalibration struct {
	Rule string
	// ScoreCoverage is the share of ranked villages whose true score lies
	// in the score's interval (nominal: the model's estimation level), in
	// all and by surveyed households (BySize: "<10", "10-29", "30-99",
	// "100+").
	ScoreCoverage float64
	BySize        map[string]float64
	// RankCoverage is the share whose true rank among the ranked villages
	// lies in its rank interval (RankUncertainty, same level).
	RankCoverage float64
	// TopSetCoverage is the share of rankings whose top-K set (InTopSet)
	// holds every one of the true top K; TopSetSize the set's size, on
	// average.
	TopSetCoverage, TopSetSize float64
	// Deciles pool the villages by p_top (0-0.1, ..., 0.9-1): their mean
	// p_top and the share truly among the top K.
	Deciles [10]Decile
	// SurelyTop is how many villages p_top puts at 0.9 or more, on average,
	// and SurelyTopRight the share of them truly in the top K.
	SurelyTop, SurelyTopRight float64
	// Overlap10 counts the villages outside the top K whose interval
	// reaches the K-th village's score, on average.
	OverlapK float64
	// Below and Above are the shares of the top fifth of each ranking
	// whose true score lies below the interval's low end and above its
	// high end (nominal: (1-level)/2 each). Fitted are the draws' tail
	// scales (RankTails) that would put the truth's 5% and 95% points
	// of that fifth at the ends of its scaled halves.
	Below, Above float64
	Fitted       RankTails
}

// Decile is one bin of p_top.
type Decile struct{ P, Hit, N float64 }

// SizeBands are the sample sizes RankCalibration.BySize reports.
var SizeBands = []string{"<10", "10-29", "30-99", "100+"}

func sizeBand(n int) string {
	switch {
	case n < 10:
		return "<10"
	case n < 30:
		return "10-29"
	case n < 100:
		return "30-99"
	}
	return "100+"
}

// EvaluateRanks runs the simulation of Evaluate and measures, for the
// published and the estimated ranking, the coverage of the score intervals
// and of the rank intervals and the calibration of p_top for the top k.
func EvaluateRanks(villages []EvalVillage, m *Model, o EvalOptions, k int) []RankCalibration {
	rng := rand.New(rand.NewPCG(o.Seed, 0x72616e6b))
	rules := []string{"published", "estimated"}
	tails := []RankTails{m.RankTailsFor(Published), m.RankTailsFor(Exact)}
	curves := []PTopCurve{m.PTopCurveFor(Published), m.PTopCurveFor(Exact)}
	rankLevels := []float64{m.RankLevelFor(Published), m.RankLevelFor(Exact)}
	out := make([]RankCalibration, len(rules))
	sizeHit, sizeN := make([]map[string]float64, len(rules)), make([]map[string]float64, len(rules))
	var n, sureReps, nTop [2]float64
	// standardised errors of the top fifth: (truth - score) over the
	// half-width on its side, per rule
	zs := make([][]float64, len(rules))
	for i, r := range rules {
		out[i] = RankCalibration{Rule: r, BySize: map[string]float64{}}
		sizeHit[i], sizeN[i] = map[string]float64{}, map[string]float64{}
	}
	for rep := 0; rep < o.Replications; rep++ {
		truth, _, intervals := simulate(villages, m, o, rng)
		for i, rule := range rules {
			iv := intervals[rule]
			codes, in, trueRank := simulatedRanking(iv, truth)
			bands := RankUncertainty(in, RankOptions{Top: k, Level: m.Estimation.Level, Draws: 2000, Seed: uint64(rep), Tails: tails[i], Curve: curves[i], RankLevel: rankLevels[i]})
			c := &out[i]
			var sure, sureRight float64
			every := 1.0
			for j, code := range codes {
				x, b, tr := iv[code], bands[j], trueRank[code]
				ts := truth.score[code]
				if j < len(codes)/5 {
					nTop[i]++
					switch {
					case ts < x.Lo:
						c.Below++
					case ts > x.Hi:
						c.Above++
					}
					if ts < x.Score && x.Score > x.Lo {
						zs[i] = append(zs[i], (ts-x.Score)/(x.Score-x.Lo))
					} else if ts >= x.Score && x.Hi > x.Score {
						zs[i] = append(zs[i], (ts-x.Score)/(x.Hi-x.Score))
					}
				}
				if ts >= x.Lo && ts <= x.Hi {
					c.ScoreCoverage++
					sizeHit[i][sizeBand(truth.households[code])]++
				}
				sizeN[i][sizeBand(truth.households[code])]++
				if tr >= b.RankLow && tr <= b.RankHigh {
					c.RankCoverage++
				}
				if b.InTopSet {
					c.TopSetSize++
				} else if tr <= k {
					every = 0
				}
				d := min(int(b.PTop*10), 9)
				c.Deciles[d].P += b.PTop
				c.Deciles[d].N++
				if tr <= k {
					c.Deciles[d].Hit++
				}
				if b.PTop >= 0.9 {
					sure++
					if tr <= k {
						sureRight++
					}
				}
				if j >= k && x.Hi >= in[k-1].Score {
					c.OverlapK++
				}
			}
			n[i] += float64(len(codes))
			c.TopSetCoverage += every
			c.SurelyTop += sure
			if sure > 0 {
				c.SurelyTopRight += sureRight / sure
				sureReps[i]++
			}
		}
	}
	for i := range out {
		c := &out[i]
		c.ScoreCoverage /= n[i]
		c.RankCoverage /= n[i]
		for _, b := range SizeBands {
			if sizeN[i][b] > 0 {
				c.BySize[b] = sizeHit[i][b] / sizeN[i][b]
			}
		}
		for d := range c.Deciles {
			if c.Deciles[d].N > 0 {
				c.Deciles[d].P /= c.Deciles[d].N
				c.Deciles[d].Hit /= c.Deciles[d].N
			}
		}
		r := float64(o.Replications)
		c.SurelyTop /= r
		if sureReps[i] > 0 {
			c.SurelyTopRight /= sureReps[i]
		}
		c.OverlapK /= r
		c.TopSetCoverage /= r
		c.TopSetSize /= r
		if nTop[i] > 0 {
			c.Below /= nTop[i]
			c.Above /= nTop[i]
		}
		if z := zs[i]; len(z) > 20 {
			// in units of the half-width, the level's ends are at -1
			// and 1: a scale s puts them at -s and s
			slices.Sort(z)
			q := (1 - m.Estimation.Level) / 2
			c.Fitted = RankTails{
				Lower: math.Round(-z[int(q*float64(len(z)))]*100) / 100,
				Upper: math.Round(z[int((1-q)*float64(len(z)))]*100) / 100,
			}
		}
	}
	return out
}

// simulatedRanking orders one simulated survey's ranked villages as the
// ranking does (by score, ties by code), with their inputs to
// RankUncertainty in that order and each village's true rank among them.
func simulatedRanking(iv map[string]RankInput, truth simTruth) ([]string, []RankInput, map[string]int) {
	codes := make([]string, 0, len(iv))
	for c := range iv {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(a, b int) bool {
		if iv[codes[a]].Score != iv[codes[b]].Score {
			return iv[codes[a]].Score > iv[codes[b]].Score
		}
		return codes[a] < codes[b]
	})
	byTruth := append([]string(nil), codes...)
	sort.Slice(byTruth, func(a, b int) bool { return truth.score[byTruth[a]] > truth.score[byTruth[b]] })
	trueRank := map[string]int{}
	for r, c := range byTruth {
		trueRank[c] = r + 1
	}
	in := make([]RankInput, len(codes))
	for j, c := range codes {
		in[j] = iv[c]
	}
	return codes, in, trueRank
}

// TailFit is one candidate of FitRankTails: the draws' tail scales and
// the calibration error of p_top they give (the reliability term of the
// Brier score: the villages' mean squared gap between the p_top of their
// decile and the share of them truly in the top K), and its worst decile.
type TailFit struct {
	Tails       RankTails
	Reliability float64
	Worst       float64
}

// FitRankTails runs the simulation of EvaluateRanks and measures, for each
// ranking ("published", "estimated") and every pair of the lower and upper
// scales given, how well p_top is calibrated: the pairs sorted best first.
// It fits the scales to p_top's calibration itself, where the scales that
// EvaluateRanks prints (RankCalibration.Fitted) match the top fifth's 5%
// and 95% points. Draws are fewer than a served ranking's (500), as the
// grid multiplies the work.
func FitRankTails(villages []EvalVillage, m *Model, o EvalOptions, k int, lowers, uppers []float64) map[string][]TailFit {
	rng := rand.New(rand.NewPCG(o.Seed, 0x72616e6b))
	rules := []string{"published", "estimated"}
	var grid []RankTails
	for _, l := range lowers {
		for _, u := range uppers {
			grid = append(grid, RankTails{Lower: l, Upper: u})
		}
	}
	deciles := map[string][][10]Decile{}
	for _, r := range rules {
		deciles[r] = make([][10]Decile, len(grid))
	}
	for rep := 0; rep < o.Replications; rep++ {
		truth, _, intervals := simulate(villages, m, o, rng)
		for _, rule := range rules {
			codes, in, trueRank := simulatedRanking(intervals[rule], truth)
			for g, t := range grid {
				bands := RankUncertainty(in, RankOptions{Top: k, Level: m.Estimation.Level, Draws: 500, Seed: uint64(rep), Tails: t})
				for j, c := range codes {
					d := &deciles[rule][g][min(int(bands[j].PTop*10), 9)]
					d.P += bands[j].PTop
					d.N++
					if trueRank[c] <= k {
						d.Hit++
					}
				}
			}
		}
	}
	out := map[string][]TailFit{}
	for _, rule := range rules {
		fits := make([]TailFit, len(grid))
		for g, t := range grid {
			var sq, n, worst float64
			for _, d := range deciles[rule][g] {
				if d.N == 0 {
					continue
				}
				gap := d.P/d.N - d.Hit/d.N
				sq += d.N * gap * gap
				n += d.N
				worst = math.Max(worst, math.Abs(gap))
			}
			fits[g] = TailFit{Tails: t, Reliability: sq / n, Worst: worst}
		}
		sort.SliceStable(fits, func(a, b int) bool { return fits[a].Reliability < fits[b].Reliability })
		out[rule] = fits
	}
	return out
}

// FitPTopCurve runs the simulation of EvaluateRanks with the model's tail
// scales and no calibration curve, pools each ranking's villages by p_top
// as drawn into deciles, and returns, per ranking ("published",
// "estimated"), the deciles and the curve through them (PTopCurve): a knot
// at each decile's mean p_top and the share of its villages truly among
// the top K, made non-decreasing by pooling adjacent violators (weighted by
// villages). The model carries the curve (estimation.p_top_curve); fit it
// on one seed and check it on another (riskmap evaluate).
func FitPTopCurve(villages []EvalVillage, m *Model, o EvalOptions, k int) map[string]CurveFit {
	rng := rand.New(rand.NewPCG(o.Seed, 0x72616e6b))
	rules := []string{"published", "estimated"}
	bases := []Basis{Published, Exact}
	out := map[string]CurveFit{}
	for rep := 0; rep < o.Replications; rep++ {
		truth, _, intervals := simulate(villages, m, o, rng)
		for i, rule := range rules {
			codes, in, trueRank := simulatedRanking(intervals[rule], truth)
			bands := RankUncertainty(in, RankOptions{Top: k, Level: m.Estimation.Level, Draws: 2000, Seed: uint64(rep), Tails: m.RankTailsFor(bases[i])})
			f := out[rule]
			for j, c := range codes {
				d := &f.Raw[min(int(bands[j].PTop*10), 9)]
				d.P += bands[j].PTop
				d.N++
				if trueRank[c] <= k {
					d.Hit++
				}
			}
			out[rule] = f
		}
	}
	for _, rule := range rules {
		f := out[rule]
		for d := range f.Raw {
			if x := &f.Raw[d]; x.N > 0 {
				x.P /= x.N
				x.Hit /= x.N
			}
		}
		f.Curve = curveThrough(f.Raw)
		out[rule] = f
	}
	return out
}

// curveThrough is the calibration curve through deciles of p_top (mean
// p_top, share truly top K, villages): a knot at each decile inside (0, 1),
// its share made non-decreasing by pooling adjacent violators, weighted by
// villages (isotonic regression), to three decimals.
func curveThrough(deciles [10]Decile) PTopCurve {
	type block struct {
		hit, n  float64 // villages truly top K, villages
		deciles int
	}
	var blocks []block
	var ps []float64
	for _, x := range deciles {
		if x.N == 0 || x.P <= 0 || x.P >= 1 {
			continue
		}
		ps = append(ps, x.P)
		blocks = append(blocks, block{x.Hit * x.N, x.N, 1})
		for len(blocks) > 1 {
			a, b := blocks[len(blocks)-2], blocks[len(blocks)-1]
			if a.hit/a.n <= b.hit/b.n {
				break
			}
			blocks = append(blocks[:len(blocks)-2], block{a.hit + b.hit, a.n + b.n, a.deciles + b.deciles})
		}
	}
	var c PTopCurve
	for _, b := range blocks {
		for range b.deciles {
			c = append(c, [2]float64{math.Round(ps[len(c)]*1000) / 1000, math.Round(b.hit/b.n*1000) / 1000})
		}
	}
	return c
}

// CurveFit is FitPTopCurve's answer for one ranking: p_top's deciles as
// drawn (mean p_top, share truly top K, villages) and the curve through
// them.
type CurveFit struct {
	Raw   [10]Decile
	Curve PTopCurve
}
