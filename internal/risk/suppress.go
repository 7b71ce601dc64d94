package risk

import "sort"

// Cell is one published count: an area's value of a measure.
type Cell struct {
	Area, Measure string
}

// Constraint says that Total is the sum of Parts, as published: a row
// (children = hazardous + child_labour + light_work + not_working) or a
// column (a kecamatan's count = the sum of its villages').
type Constraint struct {
	Total Cell
	Parts []Cell
}

// complementFirst ranks measures for complementary suppression: withholding
// not_working or light_work keeps hazardous + child_labour, and so the
// prevalence of child labour, published.
var complementFirst = map[string]int{"not_working": 0, "light_work": 1, "households": 2, "children": 3, "child_labour": 4, "hazardous": 5}

// Suppress returns the cells to withhold: every count from min to max
// (primary suppression, 1-4 by default), then complementary suppression
// until no constraint holds exactly one withheld cell, which its published
// neighbours would give away. Complements are non-zero counts of the measure
// that matters least for child-labour prevalence (complementFirst), the
// smallest of those, ties broken by area so the result is the same on every
// run.
func Suppress(values map[Cell]int, constraints []Constraint, min, max int) map[Cell]bool {
	out := map[Cell]bool{}
	for c, v := range values {
		if v >= min && v <= max {
			out[c] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, k := range constraints {
			if _, ok := values[k.Total]; !ok {
				continue
			}
			cells := append([]Cell{k.Total}, k.Parts...)
			hidden := 0
			for _, c := range cells {
				if out[c] {
					hidden++
				}
			}
			if hidden != 1 {
				continue
			}
			var candidates []Cell
			for _, c := range cells {
				if _, ok := values[c]; ok && !out[c] {
					candidates = append(candidates, c)
				}
			}
			if len(candidates) == 0 {
				continue
			}
			sort.Slice(candidates, func(i, j int) bool {
				a, b := candidates[i], candidates[j]
				va, vb := values[a], values[b]
				if (va == 0) != (vb == 0) {
					return vb == 0 // non-zero first: withholding a zero protects nothing
				}
				if ra, rb := complementFirst[a.Measure], complementFirst[b.Measure]; ra != rb {
					return ra < rb
				}
				if va != vb {
					return va < vb
				}
				if a.Area != b.Area {
					return a.Area < b.Area
				}
				return a.Measure < b.Measure
			})
			out[candidates[0]] = true
			changed = true
		}
	}
	return out
}
