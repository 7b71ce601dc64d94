package risk

import (
	"math"
	"sort"
)

// AreaInput is what the publication knows of an area besides its counts:
// facts that are not survey answers (tobacco fields, institutions, the
// calendar) and, for villages, the mean household score.
type AreaInput struct {
	Level     string // desa, kecamatan, kabupaten
	Kecamatan string // codes, for the hierarchy of small-area estimation
	Kabupaten string
	// MeanScore is the village's mean household score, rounded to the
	// model's score_step; nil where nobody was surveyed.
	MeanScore *float64
	// TobaccoShare is the share of the area under tobacco fields; nil when
	// no tobacco field is known anywhere (missing, not zero).
	TobaccoShare        *float64
	InstitutionsMissing int
	Calendar            []float64 // labour index by month of the area's variety
	Villages            int       // villages in the area (parents)
	SurveyedVillages    int       // with at least one surveyed household
}

// scoreErrorBase sets the correlation taken between the estimation errors
// of a score's components when their intervals are combined into the
// score's: rho = scoreErrorBase + the village's mean shrinkage (of its
// prevalence and mean household score), at most 1. rho = 1 adds the
// half-widths (every component at the same end: riskmap's rule until
// issue 27), 0 adds them in quadrature (independent errors). The
// components come from the same households, and a village's estimates are
// pulled toward the same kecamatan: the more they are pulled, the more
// their errors go together. In the simulation study over the 783 real
// villages (riskmap evaluate), a nominal 90% interval of the published
// score covered 93% at rho = 1, 79% at 0, 88%/92%/96% (10-29, 30-99, 100+
// households) at a constant 0.6, and 89%/90%/93% with this rule
// (docs/methodology.md, "How sure is a rank").
const scoreErrorBase = 0.15

// Basis names the counts figures are computed from.
type Basis int

const (
	// Published: the audited, rounded counts the public and planners see.
	Published Basis = iota
	// Exact: the exact counts, for staff who may see them (no minimum
	// sample, no rounding).
	Exact
)

func (b Basis) String() string {
	if b == Exact {
		return "exact"
	}
	return "published"
}

// errorCorrelation is the base of rho for figures on basis b: the
// model's estimation.error_correlation, or scoreErrorBase.
func (m *Model) errorCorrelation(b Basis) float64 {
	c := m.Estimation.ErrorCorrelation.Published
	if b == Exact {
		c = m.Estimation.ErrorCorrelation.Exact
	}
	if c == nil {
		return scoreErrorBase
	}
	return *c
}

// RankTailsFor is the model's rank draws' tail scales for basis b.
// RankLevelFor is the level the rank intervals of a ranking on basis b are
// read at (0: the estimation level).
func (m *Model) RankLevelFor(b Basis) float64 {
	if b == Exact {
		return m.Estimation.RankIntervalLevel.Exact
	}
	return m.Estimation.RankIntervalLevel.Published
}

// PTopCurveFor is the p_top calibration curve of a ranking on basis b.
func (m *Model) PTopCurveFor(b Basis) PTopCurve {
	if b == Exact {
		return m.Estimation.PTopCurve.Exact
	}
	return m.Estimation.PTopCurve.Published
}

func (m *Model) RankTailsFor(b Basis) RankTails {
	if b == Exact {
		return m.Estimation.RankTails.Exact
	}
	return m.Estimation.RankTails.Published
}

// Figures are an area's published figures, all computed from its published
// counts and those of the other published areas (Publish), never from a
// survey answer directly.
type Figures struct {
	Status string // published, insufficient_data, withheld, no_data
	// Prevalence is (hazardous + child_labour) / children as published,
	// with a Jeffreys interval; Smoothed is its small-area estimate.
	Prevalence, PrevalenceLo, PrevalenceHi *float64
	Smoothed, SmoothedLo, SmoothedHi       *float64
	LabourerShare, PovertyShare            *float64 // small-area estimates
	MeanScore                              *float64 // small-area estimate
	Components                             map[string]float64
	Score, ScoreLo, ScoreHi                *float64
	Tier                                   string
	Monthly                                []float64
	Prior                                  string   // the level smoothing pulled toward: kecamatan, kabupaten or all
	DataQuality                            []string // what is missing or thin, in words
	PublishedVillages                      int      // parents: villages with a published score
}

func fp(x float64) *float64 { return &x }

func round(x, step float64) float64 { return math.Round(x/step) * step }

// RoundTo rounds x to the nearest multiple of step (halves away from
// zero): the rounding of published figures.
func RoundTo(x, step float64) float64 { return round(x, step) }

// PublishFigures computes every published figure of every area. Villages:
// prevalence, farm-labourer and poverty shares are shrunk by ShrinkRates,
// the mean household score by ShrinkMeans (within is the pooled variance of
// household scores inside villages), each toward the kecamatan (or
// kabupaten) of the published villages only; the score is the sum of the
// components computed from those estimates (each rounded to 0.1), its
// interval the components' half-intervals combined with the correlation
// the model gives the basis (estimation.error_correlation). A component
// whose input is missing is left out and the others are scaled up to the
// full 100 points, with a data_quality note, rather than counted as 0.
// Parents: prevalence from their own published counts; score, mean score
// and monthly curve the household-weighted means of their published
// villages'.
func PublishFigures(areas []AreaCounts, pub map[string]PublishedArea, in map[string]AreaInput, m *Model, within float64, basis Basis) map[string]Figures {
	out := map[string]Figures{}
	o := SAEOptions{MinGroupAreas: m.Estimation.MinGroupAreas, Level: m.Estimation.Level}
	var villages []string
	for _, a := range areas {
		if a.Leaf {
			villages = append(villages, a.Area)
		}
	}
	sort.Strings(villages)
	val := func(area, ms string) (float64, bool) {
		v := pub[area].Values[ms]
		if v == nil {
			return 0, false
		}
		return float64(*v), true
	}
	// Observations: published villages only (an unpublished village's
	// counts would leak through its neighbours' estimates).
	var prevObs, labObs, povObs []RateObs
	var meanObs []MeanObs
	var idx []string
	for _, v := range villages {
		p := pub[v]
		if !p.Eligible {
			continue
		}
		a := in[v]
		groups := []string{a.Kecamatan, a.Kabupaten}
		hz, ok1 := val(v, "hazardous")
		cl, ok2 := val(v, "child_labour")
		ch, ok3 := val(v, "children")
		hh, ok4 := val(v, "households")
		lab, ok5 := val(v, "labourer_households")
		pov, ok6 := val(v, "poor_households")
		r := RateObs{Area: v, Groups: groups}
		if ok1 && ok2 && ok3 {
			r.X, r.N = math.Min(hz+cl, ch), ch
		}
		prevObs = append(prevObs, r)
		l := RateObs{Area: v, Groups: groups}
		q := RateObs{Area: v, Groups: groups}
		if ok4 && ok5 {
			l.X, l.N = math.Min(lab, hh), hh
		}
		if ok4 && ok6 {
			q.X, q.N = math.Min(pov, hh), hh
		}
		labObs, povObs = append(labObs, l), append(povObs, q)
		mo := MeanObs{Area: v, Groups: groups}
		if a.MeanScore != nil && ok4 {
			mo.Y, mo.N = *a.MeanScore, hh
		}
		meanObs = append(meanObs, mo)
		idx = append(idx, v)
	}
	prev, lab, pov, mean := ShrinkRates(prevObs, o), ShrinkRates(labObs, o), ShrinkRates(povObs, o), ShrinkMeans(meanObs, within, o)
	levels := []string{"kecamatan", "kabupaten", "all"}
	w, full := m.Village.Weights, m.Village.FullAt
	pub5 := m.Publication
	for i, v := range idx {
		a := in[v]
		f := Figures{Status: "published", Prior: levels[min(prev[i].Toward, 2)]}
		if prevObs[i].N > 0 {
			f.Prevalence = fp(prevObs[i].X / prevObs[i].N)
			lo, hi := jeffreys(prevObs[i].X, prevObs[i].N, o.Level)
			f.PrevalenceLo, f.PrevalenceHi = fp(lo), fp(hi)
			f.Smoothed, f.SmoothedLo, f.SmoothedHi = fp(prev[i].Mean), fp(prev[i].Lo), fp(prev[i].Hi)
		}
		if labObs[i].N > 0 {
			f.LabourerShare = fp(round(lab[i].Mean, 0.0001))
		}
		if povObs[i].N > 0 {
			f.PovertyShare = fp(round(pov[i].Mean, 0.0001))
		}
		if meanObs[i].N > 0 {
			f.MeanScore = fp(round(mean[i].Mean, pub5.ScoreStep/10))
		}
		// Components from the estimates, at the estimate and at the two
		// ends of its interval.
		type comp struct {
			name          string
			ok            bool
			mid, low, top float64
		}
		part := func(name string, x, lo, hi float64) (float64, float64, float64) {
			g := func(v float64) float64 { return round(w[name]*math.Min(math.Max(v, 0)/full[name], 1), 0.1) }
			return g(x), g(lo), g(hi)
		}
		var comps []comp
		add := func(name string, ok bool, x, lo, hi float64) {
			c := comp{name: name, ok: ok}
			if ok {
				c.mid, c.low, c.top = part(name, x, lo, hi)
			}
			comps = append(comps, c)
		}
		add("prevalence", f.Smoothed != nil, prev[i].Mean, prev[i].Lo, prev[i].Hi)
		add("mean_household_score", f.MeanScore != nil, mean[i].Mean, mean[i].Lo, mean[i].Hi)
		ts := 0.0
		if a.TobaccoShare != nil {
			ts = *a.TobaccoShare
		}
		add("tobacco_share", a.TobaccoShare != nil, ts, ts, ts)
		add("farm_labourer_share", f.LabourerShare != nil, lab[i].Mean, lab[i].Lo, lab[i].Hi)
		add("poverty_share", f.PovertyShare != nil, pov[i].Mean, pov[i].Lo, pov[i].Hi)
		ins := float64(a.InstitutionsMissing)
		add("institutions_missing", true, ins, ins, ins)
		present := 0.0
		for _, c := range comps {
			if c.ok {
				present += w[c.name]
			}
		}
		// Survey-based components must all be there for a score: a village
		// whose prevalence was withheld has no published score.
		if f.Smoothed == nil || f.MeanScore == nil || present <= 0 {
			f.Status, f.Tier = "withheld", "withheld"
			out[v] = f
			continue
		}
		scale := 100 / present
		if scale != 1 {
			f.DataQuality = append(f.DataQuality, "no tobacco fields imported: tobacco share unknown, the score is scaled from the other indicators")
		}
		f.Components = map[string]float64{}
		// The score's interval: the components' estimation errors added
		// as independent (in quadrature), each half of each component's
		// interval on its side. With every component at the same end
		// (the bound used before) a nominal 90% interval covered 93-95%
		// of true scores in the simulation study, and p_top was
		// under-confident (docs/methodology.md, "How sure is a rank").
		var score, lo2, hi2, loSum, hiSum float64
		for _, c := range comps {
			if !c.ok {
				continue
			}
			x := round(c.mid*scale, 0.1)
			f.Components[c.name] = x
			score += x
			l, h := (c.mid-c.low)*scale, (c.top-c.mid)*scale
			lo2, hi2, loSum, hiSum = lo2+l*l, hi2+h*h, loSum+l, hiSum+h
		}
		score = round(score, 0.1)
		// (sum w)^2 = sum w^2 + sum_{i!=j} w_i w_j; the cross terms weigh rho.
		rho := math.Max(0, math.Min(1, m.errorCorrelation(basis)+(prev[i].Shrinkage+mean[i].Shrinkage)/2))
		lo := score - math.Sqrt(lo2+rho*(loSum*loSum-lo2))
		hi := score + math.Sqrt(hi2+rho*(hiSum*hiSum-hi2))
		f.Score, f.ScoreLo, f.ScoreHi = fp(score), fp(round(math.Min(lo, score), 0.1)), fp(round(math.Max(hi, score), 0.1))
		f.Tier = m.Tier(score)
		f.Monthly = monthly(score, a.Calendar)
		if prev[i].Toward > 0 {
			f.DataQuality = append(f.DataQuality, "few surveyed villages in the kecamatan: smoothed toward the "+levels[min(prev[i].Toward, 2)])
		}
		if hh, _ := val(v, "households"); hh < 2*float64(pub5.MinHouseholds) {
			f.DataQuality = append(f.DataQuality, "small sample: read the interval")
		}
		out[v] = f
	}
	surveyed := make(map[string]int, len(areas))
	parentOf := make(map[string]string, len(areas))
	for _, a := range areas {
		surveyed[a.Area], parentOf[a.Area] = a.Counts["households"], a.Parent
	}
	for _, v := range villages {
		if _, ok := out[v]; ok {
			continue
		}
		f := Figures{Status: "insufficient_data", Tier: "insufficient_data"}
		if surveyed[v] == 0 {
			f.Status, f.Tier = "no_data", "no_data"
		}
		out[v] = f
	}
	// Parents: each published village adds to all its ancestors, in one pass.
	type sums struct {
		n                 int
		wsum, score, mean float64
		month             [12]float64
	}
	acc := map[string]*sums{}
	for _, v := range villages {
		vf := out[v]
		if vf.Score == nil {
			continue
		}
		hh, _ := val(v, "households")
		for p := parentOf[v]; p != ""; p = parentOf[p] {
			a := acc[p]
			if a == nil {
				a = &sums{}
				acc[p] = a
			}
			a.n++
			a.wsum += hh
			a.score += *vf.Score * hh
			a.mean += *vf.MeanScore * hh
			for k := range a.month {
				a.month[k] += vf.Monthly[k] * hh
			}
		}
	}
	for _, a := range areas {
		if a.Leaf {
			continue
		}
		f := Figures{Status: "published"}
		if !pub[a.Area].Eligible {
			f.Status = "insufficient_data"
			if a.Counts["households"] == 0 {
				f.Status = "no_data"
			}
		}
		hz, ok1 := val(a.Area, "hazardous")
		cl, ok2 := val(a.Area, "child_labour")
		ch, ok3 := val(a.Area, "children")
		if ok1 && ok2 && ok3 && ch > 0 {
			x := math.Min(hz+cl, ch)
			f.Prevalence = fp(x / ch)
			lo, hi := jeffreys(x, ch, o.Level)
			f.PrevalenceLo, f.PrevalenceHi = fp(lo), fp(hi)
		}
		if hh, ok := val(a.Area, "households"); ok && hh > 0 {
			if l, ok := val(a.Area, "labourer_households"); ok {
				f.LabourerShare = fp(round(math.Min(l/hh, 1), 0.0001))
			}
			if p, ok := val(a.Area, "poor_households"); ok {
				f.PovertyShare = fp(round(math.Min(p/hh, 1), 0.0001))
			}
		}
		var wsum, score, mean float64
		month := make([]float64, 12)
		if ac := acc[a.Area]; ac != nil {
			f.PublishedVillages, wsum, score, mean = ac.n, ac.wsum, ac.score, ac.mean
			copy(month, ac.month[:])
		}
		if wsum > 0 {
			f.Score = fp(round(score/wsum, 0.01))
			f.MeanScore = fp(round(mean/wsum, 0.1))
			for k := range month {
				month[k] = round(month[k]/wsum, 0.01)
			}
			f.Monthly = month
			f.Tier = m.Tier(*f.Score)
		} else if f.Status == "no_data" {
			f.Tier = "no_data"
		} else {
			f.Tier = "insufficient_data"
		}
		if ai := in[a.Area]; ai.Villages > 0 && f.PublishedVillages*2 < ai.Villages {
			f.DataQuality = append(f.DataQuality, "low coverage: fewer than half its villages have published figures")
		}
		out[a.Area] = f
	}
	return out
}

func monthly(score float64, cal []float64) []float64 {
	out := make([]float64, 12)
	for k := range out {
		if k < len(cal) {
			out[k] = round(score*cal[k], 0.01)
		}
	}
	return out
}

// jeffreys is the Jeffreys interval of x in n: the equal-tailed interval
// of Beta(x + 1/2, n - x + 1/2), which behaves well at 0 and small n.
func jeffreys(x, n, level float64) (float64, float64) {
	tail := (1 - level) / 2
	mean := (x + 0.5) / (n + 1)
	v := mean * (1 - mean) / (n + 2)
	lo, hi := betaInterval(mean, v, tail)
	if x == 0 {
		lo = 0
	}
	if x == n {
		hi = 1
	}
	return lo, hi
}
