package risk

import (
	"strings"
	"testing"
)

// TestCheckPublishedCounts: what Publish makes passes; each way a served
// count can break the rule is named.
func TestCheckPublishedCounts(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	rule := m.Publication
	village := func(code string, households, children, hazardous int) AreaCounts {
		labour, light := children/60, children/50
		return AreaCounts{Area: AreaID(LevelDesa, code), Parent: AreaID(LevelKecamatan, "35.13.13"), Leaf: true, Counts: map[string]int{
			"households": households, "children": children, "hazardous": hazardous, "child_labour": labour, "light_work": light,
			"not_working": children - hazardous - labour - light, "labourer_households": households / 2, "poor_households": households / 3}}
	}
	build := func() ([]AreaCounts, map[string]PublishedArea) {
		areas := []AreaCounts{village("35.13.13.2001", 120, 260, 41), village("35.13.13.2002", 95, 201, 27), village("35.13.13.2003", 2, 3, 1)}
		kec := AreaCounts{Area: AreaID(LevelKecamatan, "35.13.13"), Counts: map[string]int{}}
		for _, a := range areas {
			for k, v := range a.Counts {
				kec.Counts[k] += v
			}
		}
		areas = append(areas, kec)
		pub, _, err := Publish(areas, rule)
		if err != nil {
			t.Fatal(err)
		}
		return areas, pub
	}
	areas, pub := build()
	if problems, err := CheckPublishedCounts(areas, pub, rule); err != nil || len(problems) != 0 {
		t.Fatalf("what Publish makes: %v %v", problems, err)
	}
	one := func(v int) *int { return &v }
	for _, tc := range []struct {
		name   string
		tamper func(pub map[string]PublishedArea)
		want   string
	}{
		{"not a multiple", func(pub map[string]PublishedArea) {
			pub[AreaID(LevelDesa, "35.13.13.2001")].Values["hazardous"] = one(41)
		}, "is not a multiple of"},
		{"not the rounded truth", func(pub map[string]PublishedArea) {
			pub[AreaID(LevelDesa, "35.13.13.2002")].Values["children"] = one(RoundCount(201, rule.RoundingBase) + rule.RoundingBase)
		}, "is not the true count rounded"},
		{"under the minimum sample", func(pub map[string]PublishedArea) {
			pub[AreaID(LevelDesa, "35.13.13.2003")] = PublishedArea{Eligible: true, Values: map[string]*int{"children": one(RoundCount(3, rule.RoundingBase))}}
		}, "under the minimum sample"},
		{"missing", func(pub map[string]PublishedArea) {
			delete(pub, AreaID(LevelDesa, "35.13.13.2002"))
		}, "missing from area_public"},
	} {
		areas, pub := build()
		tc.tamper(pub)
		problems, err := CheckPublishedCounts(areas, pub, rule)
		if err != nil || !strings.Contains(strings.Join(problems, "\n"), tc.want) {
			t.Errorf("%s: %v %v, want a problem saying %q", tc.name, problems, err, tc.want)
		}
	}
}

// TestCheckFigures: a served figure that the published counts do not give
// is named, within the tolerances of the stored precision.
func TestCheckFigures(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	want := Figures{Status: "published", Prevalence: f(0.25), Smoothed: f(0.22), MeanScore: f(31.5), LabourerShare: f(0.4), PovertyShare: f(0.3),
		Score: f(42.3), Components: map[string]float64{"prevalence": 20.1, "mean_household_score": 22.2}, Monthly: []float64{10.5, 42.3}}
	if p := CheckFigures("desa:1", want, want); len(p) != 0 {
		t.Fatalf("the same figures: %v", p)
	}
	close := want
	close.Score = f(42.3 + 1e-6)
	if p := CheckFigures("desa:1", close, want); len(p) != 0 {
		t.Errorf("within the stored precision: %v", p)
	}
	for _, tc := range []struct {
		name   string
		change func(*Figures)
		want   string
	}{
		{"status", func(s *Figures) { s.Status = "withheld" }, "status withheld"},
		{"score", func(s *Figures) { s.Score = f(42.4) }, "score 42.4 is not what the published counts give"},
		{"a figure served where none is due", func(s *Figures) { s.Prevalence = nil }, "prevalence <nil>"},
		{"components", func(s *Figures) { s.Components = map[string]float64{"prevalence": 20.1, "mean_household_score": 22.0} }, "not the sum of its components"},
		{"monthly", func(s *Figures) { s.Monthly = []float64{10.5, 42.4} }, "monthly curve"},
	} {
		served := want
		tc.change(&served)
		if p := strings.Join(CheckFigures("desa:1", served, want), "\n"); !strings.Contains(p, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, p, tc.want)
		}
	}
}
