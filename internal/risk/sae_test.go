package risk

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

var saeOpt = SAEOptions{MinGroupAreas: 3, Level: 0.9}

// A small sample is pulled toward its kecamatan, a large one hardly moves,
// and every interval holds its estimate.
func TestShrinkRates(t *testing.T) {
	kec := []string{"35.13.13", "35.13"}
	obs := []RateObs{
		{Area: "big", Groups: kec, X: 150, N: 600},                        // 25%
		{Area: "mid", Groups: kec, X: 10, N: 100},                         // 10%
		{Area: "mid2", Groups: kec, X: 12, N: 100},                        // 12%
		{Area: "tiny", Groups: kec, X: 2, N: 2},                           // 100% of 2 children
		{Area: "none", Groups: kec, X: 0, N: 0},                           // not surveyed
		{Area: "far", Groups: []string{"35.09.01", "35.09"}, X: 1, N: 10}, // a kecamatan with one village: shrinks toward the whole
	}
	est := ShrinkRates(obs, saeOpt)
	pooled := (150.0 + 10 + 12 + 2) / (600 + 100 + 100 + 2)
	for i, e := range est {
		if !(e.Lo <= e.Mean && e.Mean <= e.Hi) || e.Lo < 0 || e.Hi > 1 {
			t.Errorf("%s: %+v is not an interval around its mean", obs[i].Area, e)
		}
	}
	if big := est[0].Mean; math.Abs(big-0.25) > 0.01 {
		t.Errorf("600 children at 25%%: estimate %.3f, want about 0.25", big)
	}
	if tiny := est[3].Mean; tiny > 0.5 || tiny <= pooled-0.05 {
		t.Errorf("2 of 2 children: estimate %.3f, want pulled far toward the kecamatan's %.3f", tiny, pooled)
	}
	if est[3].Hi-est[3].Lo < est[0].Hi-est[0].Lo {
		t.Errorf("2 children have a narrower interval (%v) than 600 (%v)", est[3], est[0])
	}
	if none := est[4]; math.Abs(none.Mean-pooled) > 1e-9 {
		t.Errorf("an unsurveyed village: %.4f, want the prior %.4f", none.Mean, pooled)
	}
	if est[5].Toward != 2 {
		t.Errorf("a village alone in its kecamatan and kabupaten shrank toward level %d, want 2 (all villages)", est[5].Toward)
	}
}

// Simulated villages of unequal sample sizes: the shrunk estimates are
// closer to the truth than the raw rates, and the 90% intervals hold the
// truth about 90% of the time.
func TestShrinkRatesSimulated(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var rawErr, ebErr float64
	covered, total := 0, 0
	for rep := 0; rep < 40; rep++ {
		var obs []RateObs
		var truth []float64
		for k := 0; k < 10; k++ {
			kp := 0.05 + 0.15*rng.Float64()
			for v := 0; v < 12; v++ {
				p := math.Max(0.001, math.Min(0.999, kp+0.05*rng.NormFloat64()))
				n := float64(int(math.Exp(rng.NormFloat64()*1.2 + 3)))
				x := 0.0
				for i := 0; i < int(n); i++ {
					if rng.Float64() < p {
						x++
					}
				}
				obs = append(obs, RateObs{Groups: []string{string(rune('a' + k)), "kab"}, X: x, N: n})
				truth = append(truth, p)
			}
		}
		for i, e := range ShrinkRates(obs, saeOpt) {
			if obs[i].N == 0 {
				continue
			}
			rawErr += math.Pow(obs[i].X/obs[i].N-truth[i], 2)
			ebErr += math.Pow(e.Mean-truth[i], 2)
			total++
			if e.Lo <= truth[i] && truth[i] <= e.Hi {
				covered++
			}
		}
	}
	if ebErr >= rawErr*0.8 {
		t.Errorf("mean squared error: shrunk %.5f, raw %.5f: shrinkage should help", ebErr/float64(total), rawErr/float64(total))
	}
	if c := float64(covered) / float64(total); c < 0.8 || c > 0.97 {
		t.Errorf("90%% intervals cover the truth %.1f%% of the time", 100*c)
	}
	t.Logf("MSE raw %.5f, shrunk %.5f; 90%% intervals cover %.1f%%", rawErr/float64(total), ebErr/float64(total), 100*float64(covered)/float64(total))
}

func TestShrinkMeans(t *testing.T) {
	kec := []string{"k", "kab"}
	obs := []MeanObs{{Area: "a", Groups: kec, Y: 40, N: 200}, {Area: "b", Groups: kec, Y: 30, N: 200}, {Area: "c", Groups: kec, Y: 35, N: 200},
		{Area: "one", Groups: kec, Y: 90, N: 1}}
	est := ShrinkMeans(obs, 15*15, saeOpt)
	if math.Abs(est[0].Mean-40) > 0.5 {
		t.Errorf("200 households averaging 40: estimate %.2f", est[0].Mean)
	}
	if est[3].Mean > 60 {
		t.Errorf("one household scoring 90: estimate %.1f, want pulled toward the kecamatan's 35", est[3].Mean)
	}
	for i, e := range est {
		if !(e.Lo <= e.Mean && e.Mean <= e.Hi) {
			t.Errorf("%s: %+v", obs[i].Area, e)
		}
	}
}

// Components: one institution of three missing is a third of its weight
// (integer division once made it 0), and a village's tobacco share unknown
// (no fields imported) is left out and the score scaled to 100, with a note,
// not counted as 0 points.
func TestPublishFiguresComponents(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	five := func(v int) *int { return &v }
	var areas []AreaCounts
	pub := map[string]PublishedArea{}
	in := map[string]AreaInput{}
	share := 0.1
	for i, code := range []string{"a", "b", "c", "d"} {
		area := "desa:" + code
		areas = append(areas, AreaCounts{Area: area, Parent: "kecamatan:k", Leaf: true,
			Counts: map[string]int{"households": 40, "children": 80, "hazardous": 10}})
		pub[area] = PublishedArea{Eligible: true, Values: map[string]*int{"households": five(40), "children": five(80),
			"hazardous": five(10), "child_labour": five(0), "light_work": five(0), "not_working": five(70),
			"labourer_households": five(20), "poor_households": five(10)}}
		mean := 40.0
		ai := AreaInput{Level: "desa", Kecamatan: "k", Kabupaten: "kab", MeanScore: &mean, InstitutionsMissing: 1,
			Calendar: m.Calendar[m.DefaultVariety]}
		if i > 0 {
			ai.TobaccoShare = &share
		}
		in[area] = ai
	}
	areas = append(areas, AreaCounts{Area: "kecamatan:k", Counts: map[string]int{"households": 160, "children": 320}})
	pub["kecamatan:k"] = PublishedArea{Eligible: true, Values: map[string]*int{"households": five(160), "children": five(320),
		"hazardous": five(40), "child_labour": five(0)}}
	in["kecamatan:k"] = AreaInput{Level: "kecamatan", Villages: 4, SurveyedVillages: 4}
	figs := PublishFigures(areas, pub, in, m, 100, Published)
	b := figs["desa:b"]
	if got, want := b.Components["institutions_missing"], round(5.0/3, 0.1); got != want {
		t.Errorf("1 of 3 institutions missing: %v points, want %v", got, want)
	}
	a := figs["desa:a"]
	if _, ok := a.Components["tobacco_share"]; ok || len(a.DataQuality) == 0 {
		t.Errorf("unknown tobacco share: components %v, notes %v; want it left out with a note", a.Components, a.DataQuality)
	}
	sum := 0.0
	for _, v := range a.Components {
		sum += v
	}
	if math.Abs(sum-*a.Score) > 0.051 || *a.Score <= *b.Score-b.Components["tobacco_share"] {
		t.Errorf("village without tobacco data: score %v, components %v: want the other indicators scaled up", *a.Score, a.Components)
	}
	if k := figs["kecamatan:k"]; k.Score == nil || k.PublishedVillages != 4 {
		t.Errorf("kecamatan: %+v", k)
	}
	// On exact counts the model takes less correlation between the
	// components' errors (estimation.error_correlation): the same score,
	// a narrower interval; with the published base, the same interval.
	exact := PublishFigures(areas, pub, in, m, 100, Exact)
	for _, v := range []string{"desa:a", "desa:b"} {
		p, e := figs[v], exact[v]
		if *p.Score != *e.Score || !(*e.ScoreLo > *p.ScoreLo && *e.ScoreHi < *p.ScoreHi) {
			t.Errorf("%s: exact %v [%v, %v], published %v [%v, %v]: want the same score in a narrower interval",
				v, *e.Score, *e.ScoreLo, *e.ScoreHi, *p.Score, *p.ScoreLo, *p.ScoreHi)
		}
	}
	same := *m
	same.Estimation.ErrorCorrelation.Exact = m.Estimation.ErrorCorrelation.Published
	if e, p := PublishFigures(areas, pub, in, &same, 100, Exact)["desa:b"], figs["desa:b"]; *e.ScoreLo != *p.ScoreLo || *e.ScoreHi != *p.ScoreHi {
		t.Errorf("exact with the published correlation: [%v, %v], published [%v, %v]: want the same", *e.ScoreLo, *e.ScoreHi, *p.ScoreLo, *p.ScoreHi)
	}
	if _, err := ParseModel([]byte(`{"estimation": {"error_correlation": {"exact": 1.5}}}`), "corr.json"); err == nil || !strings.Contains(err.Error(), "error_correlation.exact") {
		t.Errorf("error_correlation.exact 1.5 accepted or not named: %v", err)
	}
}
