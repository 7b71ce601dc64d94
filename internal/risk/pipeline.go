package risk

import "fmt"

// PipelineMeasures are the published counts of the CLMRS pipeline in an
// area: children with a case by status now. They add up to
// "identified", every child who ever had a case there.
var PipelineMeasures = []string{CaseIdentified, CaseRemediationPlanned, CaseRemediated, CaseFollowedUp, CaseClosed, CaseLost}

// PipelineTotal is the measure the statuses add up to.
const PipelineTotal = "cases"

// PublishTable publishes one table of counts (Parts adding up to Total in
// every area, every area the sum of its children) under the publication
// rule: an area whose total is under minTotal is withheld whole, every
// other count is rounded to the rule's base, and the audit's attacker
// (CountTable.Intervals, with every row and column combined) must not
// narrow any count beyond the rule; for each count it can, the row's least
// telling published count (the first of Parts, in order, that is still
// published) or, for a withheld count, its parent's count, is withheld too,
// until the audit finds nothing. Nobody sees these counts exactly (no
// masked points count cases), so one view covers public and planners.
func PublishTable(areas []AreaCounts, parts []string, total string, minTotal int, rule PublicationRule) (map[string]PublishedArea, error) {
	out := make(map[string]PublishedArea, len(areas))
	byArea := map[string]AreaCounts{}
	measures := append(append([]string{}, parts...), total)
	for _, a := range areas {
		byArea[a.Area] = a
		p := PublishedArea{Eligible: a.Counts[total] >= minTotal, Values: map[string]*int{}}
		for _, m := range measures {
			if p.Eligible {
				v := RoundCount(a.Counts[m], rule.RoundingBase)
				p.Values[m] = &v
			}
		}
		out[a.Area] = p
	}
	dr := rule.Disclosure()
	for round := 0; round < 200; round++ {
		t := &CountTable{Parent: map[string]string{}, Parts: parts, Total: total, True: map[Cell]int{}, Known: map[Cell]Interval{}}
		for _, a := range areas {
			t.Parent[a.Area] = a.Parent
			for _, m := range measures {
				c := Cell{a.Area, m}
				t.True[c] = a.Counts[m]
				if v := out[a.Area].Values[m]; v != nil {
					t.Known[c] = RoundedInterval(*v, rule.RoundingBase)
				} else {
					t.Known[c] = Interval{0, Unbounded}
				}
			}
		}
		ivs, err := t.Intervals(rule.AuditLimit())
		if err != nil {
			return nil, err
		}
		changed, found := false, 0
		done := map[string]bool{}
		for _, a := range areas { // in the caller's order: the same result every run
			for _, m := range measures {
				c := Cell{a.Area, m}
				withheld := out[a.Area].Values[m] == nil
				if dr.Safe(ivs[c], dr.Sensitive(t.True[c], withheld)) {
					continue
				}
				found++
				if done[a.Area] {
					continue
				}
				target := Cell{}
				if !withheld {
					for _, p := range append(append([]string{}, parts...), total) {
						if out[a.Area].Values[p] != nil {
							target = Cell{a.Area, p}
							break
						}
					}
				} else if par := a.Parent; par != "" && out[par].Values[m] != nil {
					target = Cell{par, m}
				} else if out[a.Area].Values[total] != nil {
					target = Cell{a.Area, total}
				}
				if target.Area == "" {
					continue
				}
				out[target.Area].Values[target.Measure] = nil
				done[a.Area] = true
				changed = true
			}
		}
		if found == 0 {
			return out, nil
		}
		if !changed {
			return nil, fmt.Errorf("publication: %d narrow counts and nothing left to withhold", found)
		}
	}
	return nil, fmt.Errorf("publication: no safe table after 200 rounds")
}
