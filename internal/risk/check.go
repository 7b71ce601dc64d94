package risk

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// CheckPublishedCounts checks what the public and planners are served of
// each area's counts against the true counts: every published count is a
// multiple of the rounding base, is the true count so rounded, and belongs
// to an area that met the minimum sample; then, when all of that holds, the
// interval audit (Audit) over every area. It returns the problems, in
// words; none means the publication is what the rule allows. An area
// scored but missing from pub is a problem, and is audited as withholding
// everything.
func CheckPublishedCounts(areas []AreaCounts, pub map[string]PublishedArea, rule PublicationRule) ([]string, error) {
	var problems []string
	base := max(rule.RoundingBase, 1)
	for _, a := range areas {
		p, ok := pub[a.Area]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: scored but missing from area_public", a.Area))
			pub[a.Area] = PublishedArea{Values: map[string]*int{}}
			continue
		}
		for _, ms := range slices.Sorted(maps.Keys(p.Values)) {
			v := p.Values[ms]
			if v == nil {
				continue
			}
			if *v%base != 0 {
				problems = append(problems, fmt.Sprintf("%s %s: published %d is not a multiple of %d", a.Area, ms, *v, rule.RoundingBase))
			}
			if a.Counts["households"] < rule.MinHouseholds || a.Counts["children"] < rule.MinChildren {
				problems = append(problems, fmt.Sprintf("%s %s: published although under the minimum sample", a.Area, ms))
			}
			if *v != RoundCount(a.Counts[ms], rule.RoundingBase) {
				problems = append(problems, fmt.Sprintf("%s %s: published %d is not the true count rounded to %d", a.Area, ms, *v, rule.RoundingBase))
			}
		}
	}
	// The interval audit assumes the published counts are the rounded true
	// ones; with any that are not, the problems above come first.
	if len(problems) > 0 {
		return problems, nil
	}
	findings, err := Audit(areas, pub, rule)
	if err != nil {
		return nil, err
	}
	for _, f := range findings {
		problems = append(problems, f.String())
	}
	return problems, nil
}

// Tolerances of CheckFigures: what the served figures may differ by from
// the figures computed again from the published counts (the database keeps
// them as numeric rounded to the published precision).
const (
	figureTolerance   = 1e-4  // relative, for estimates and scores
	componentSumSlack = 0.051 // a score against the sum of its components, each rounded to 0.1
	monthlyTolerance  = 0.006 // a month's score, rounded to 0.01
)

// CheckFigures compares the figures served for an area with those the
// published counts give (PublishFigures): every derived figure must be a
// function of what is published, so a figure that is not says something
// the counts do not. It returns the differences, in words.
func CheckFigures(area string, served, want Figures) []string {
	var problems []string
	differs := func(name string, got, w *float64) {
		if (got == nil) != (w == nil) || (got != nil && math.Abs(*got-*w) > figureTolerance*math.Max(1, math.Abs(*w))) {
			problems = append(problems, fmt.Sprintf("%s: %s %v is not what the published counts give (%v)", area, name, value(got), value(w)))
		}
	}
	if served.Status != want.Status {
		problems = append(problems, fmt.Sprintf("%s: status %s, the published counts give %s", area, served.Status, want.Status))
	}
	differs("prevalence", served.Prevalence, want.Prevalence)
	differs("prevalence_smoothed", served.Smoothed, want.Smoothed)
	differs("mean_household_score", served.MeanScore, want.MeanScore)
	differs("farm_labourer_share", served.LabourerShare, want.LabourerShare)
	differs("poverty_share", served.PovertyShare, want.PovertyShare)
	differs("score", served.Score, want.Score)
	sum := 0.0
	for _, k := range slices.Sorted(maps.Keys(served.Components)) {
		v := served.Components[k]
		sum += v
		var w *float64
		if x, ok := want.Components[k]; ok {
			w = &x
		}
		differs("component "+k, &v, w)
	}
	if served.Score != nil && served.Components != nil && math.Abs(sum-*served.Score) > componentSumSlack {
		problems = append(problems, fmt.Sprintf("%s: score %v is not the sum of its components (%v)", area, *served.Score, sum))
	}
	for k := range served.Monthly {
		if k >= len(want.Monthly) || math.Abs(served.Monthly[k]-want.Monthly[k]) > monthlyTolerance {
			problems = append(problems, fmt.Sprintf("%s: its monthly curve is not the published score times the calendar", area))
			break
		}
	}
	return problems
}

func value(x *float64) any {
	if x == nil {
		return nil
	}
	return *x
}
