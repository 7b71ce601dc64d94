package risk

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// recoverable reports a withheld cell that one constraint gives away: all
// its other cells are published.
func recoverable(values map[Cell]int, constraints []Constraint, hidden map[Cell]bool) (Cell, bool) {
	for _, k := range constraints {
		if _, ok := values[k.Total]; !ok {
			continue
		}
		cells := append([]Cell{k.Total}, k.Parts...)
		var h []Cell
		for _, c := range cells {
			if hidden[c] {
				h = append(h, c)
			}
		}
		if len(h) == 1 {
			return h[0], true
		}
	}
	return Cell{}, false
}

var measures = []string{"hazardous", "child_labour", "light_work", "not_working"}

// table builds villages in kecamatan with random class counts, their totals,
// and the row and column constraints the API publishes.
func table(rng *rand.Rand, kec, villages int) (map[Cell]int, []Constraint) {
	values := map[Cell]int{}
	var cons []Constraint
	for k := 0; k < kec; k++ {
		kc := fmt.Sprintf("35.13.%02d", k)
		kecTotals := map[string]int{}
		var columns = map[string][]Cell{}
		for v := 0; v < villages; v++ {
			vc := fmt.Sprintf("%s.%04d", kc, 2001+v)
			var parts []Cell
			sum := 0
			for _, m := range measures {
				n := rng.IntN(12)
				if rng.IntN(3) == 0 {
					n = rng.IntN(5)
				}
				values[Cell{vc, m}] = n
				parts = append(parts, Cell{vc, m})
				sum += n
				kecTotals[m] += n
				columns[m] = append(columns[m], Cell{vc, m})
			}
			values[Cell{vc, "children"}] = sum
			kecTotals["children"] += sum
			columns["children"] = append(columns["children"], Cell{vc, "children"})
			cons = append(cons, Constraint{Cell{vc, "children"}, parts})
		}
		var kparts []Cell
		for _, m := range measures {
			values[Cell{kc, m}] = kecTotals[m]
			kparts = append(kparts, Cell{kc, m})
		}
		values[Cell{kc, "children"}] = kecTotals["children"]
		cons = append(cons, Constraint{Cell{kc, "children"}, kparts})
		for m, cells := range columns {
			cons = append(cons, Constraint{Cell{kc, m}, cells})
		}
	}
	return values, cons
}

func TestSuppressByHand(t *testing.T) {
	// One village: children 20 = 3 hazardous + 0 + 2 light work + 15 not working.
	v := map[Cell]int{{"A", "children"}: 20, {"A", "hazardous"}: 3, {"A", "child_labour"}: 0, {"A", "light_work"}: 2, {"A", "not_working"}: 15}
	cons := []Constraint{{Cell{"A", "children"}, []Cell{{"A", "hazardous"}, {"A", "child_labour"}, {"A", "light_work"}, {"A", "not_working"}}}}
	got := Suppress(v, cons, 1, 4)
	if len(got) != 2 || !got[Cell{"A", "hazardous"}] || !got[Cell{"A", "light_work"}] {
		t.Errorf("suppressed %v, want hazardous and light_work (both 1-4; two in the row already protect each other)", got)
	}
	// Only one small cell: a non-zero cell is withheld with it, not_working
	// before the others, so hazardous + child_labour (prevalence) stays known
	// wherever it can.
	v[Cell{"A", "light_work"}], v[Cell{"A", "not_working"}] = 9, 8
	got = Suppress(v, cons, 1, 4)
	if len(got) != 2 || !got[Cell{"A", "hazardous"}] || !got[Cell{"A", "not_working"}] {
		t.Errorf("suppressed %v, want hazardous and its complement not_working (8, the smallest non-zero)", got)
	}
}

func TestSuppressNothingRecoverable(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		values, cons := table(rng, 1+rng.IntN(4), 1+rng.IntN(8))
		hidden := Suppress(values, cons, 1, 4)
		for c, v := range values {
			if v >= 1 && v <= 4 && !hidden[c] {
				t.Fatalf("seed %d: small count %v = %d published", seed, c, v)
			}
		}
		if c, ok := recoverable(values, cons, hidden); ok {
			t.Fatalf("seed %d: withheld %v = %d is the only hidden cell of a published total", seed, c, values[c])
		}
		again := Suppress(values, cons, 1, 4)
		if fmt.Sprint(len(again)) != fmt.Sprint(len(hidden)) {
			t.Fatalf("seed %d: two runs differ", seed)
		}
	}
}

func TestComplementKeepsPrevalence(t *testing.T) {
	// light_work 4 is primary; the complement is not_working (1477), not the
	// smaller child_labour (19): prevalence needs hazardous and child_labour.
	v := map[Cell]int{{"K", "children"}: 1678, {"K", "hazardous"}: 178, {"K", "child_labour"}: 19, {"K", "light_work"}: 4, {"K", "not_working"}: 1477}
	cons := []Constraint{{Cell{"K", "children"}, []Cell{{"K", "hazardous"}, {"K", "child_labour"}, {"K", "light_work"}, {"K", "not_working"}}}}
	got := Suppress(v, cons, 1, 4)
	if len(got) != 2 || !got[Cell{"K", "light_work"}] || !got[Cell{"K", "not_working"}] {
		t.Errorf("suppressed %v, want light_work and not_working", got)
	}
}
