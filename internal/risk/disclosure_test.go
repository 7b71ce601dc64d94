package risk

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// The rounding attack that a cell-by-cell check misses: four classes of 3
// round to 5 each while their total, 12, rounds down to 10. Each class is
// at least 3 and together at most 12, so every class is exactly 3.
func TestIntervalsPinRoundedRow(t *testing.T) {
	tbl := &CountTable{Parent: map[string]string{"v": ""}, Parts: ClassMeasures, Total: "children",
		True: map[Cell]int{}, Known: map[Cell]Interval{}}
	for _, m := range ClassMeasures {
		tbl.True[Cell{"v", m}] = 3
		tbl.Known[Cell{"v", m}] = RoundedInterval(RoundCount(3, 5), 5)
	}
	tbl.True[Cell{"v", "children"}] = 12
	tbl.Known[Cell{"v", "children"}] = RoundedInterval(RoundCount(12, 5), 5)
	ivs, err := tbl.Intervals(10)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ClassMeasures {
		if got, want := ivs[Cell{"v", m}], (Interval{3, 3}); got != want {
			t.Errorf("%s = %v, want %v", m, got, want)
		}
	}
	rule := DisclosureRule{MinWidth: 3, SmallMax: 4}
	if rule.Safe(ivs[Cell{"v", "hazardous"}], rule.Sensitive(3, false)) {
		t.Error("a count pinned to 3 is called safe")
	}
}

func TestRounding(t *testing.T) {
	for _, tc := range []struct{ n, base, want int }{
		{0, 5, 0}, {1, 5, 0}, {2, 5, 0}, {3, 5, 5}, {4, 5, 5}, {5, 5, 5}, {7, 5, 5}, {8, 5, 10}, {12, 5, 10}, {13, 5, 15},
		{5, 10, 10}, {4, 10, 0}, {7, 1, 7},
	} {
		if got := RoundCount(tc.n, tc.base); got != tc.want {
			t.Errorf("RoundCount(%d, %d) = %d, want %d", tc.n, tc.base, got, tc.want)
		}
		// The published interval always holds the truth.
		if iv := RoundedInterval(RoundCount(tc.n, tc.base), tc.base); tc.n < iv.Lo || tc.n > iv.Hi {
			t.Errorf("RoundedInterval of %d (base %d) = %v, misses it", tc.n, tc.base, iv)
		}
	}
}

func TestDisclosureRule(t *testing.T) {
	r := DisclosureRule{MinWidth: 3, SmallMax: 4}
	for _, tc := range []struct {
		iv        Interval
		sensitive bool
		safe      bool
	}{
		{Interval{0, 0}, true, true}, {Interval{0, 2}, true, true}, {Interval{0, Unbounded}, true, true},
		{Interval{3, 7}, true, true}, {Interval{5, 8}, true, true}, {Interval{1, 4}, true, false}, {Interval{3, 5}, true, false},
		{Interval{3, 3}, true, false}, {Interval{37, 38}, true, false}, {Interval{37, 40}, true, true}, {Interval{2, Unbounded}, true, true},
		// a large published count known exactly is no disclosure
		{Interval{178, 179}, false, true}, {Interval{23, 23}, false, true},
	} {
		if got := r.Safe(tc.iv, tc.sensitive); got != tc.safe {
			t.Errorf("Safe(%v, sensitive %v) = %v, want %v", tc.iv, tc.sensitive, got, tc.safe)
		}
	}
	for _, tc := range []struct {
		truth    int
		withheld bool
		want     bool
	}{{0, false, false}, {1, false, true}, {4, false, true}, {5, false, false}, {0, true, true}, {50, true, true}} {
		if got := r.Sensitive(tc.truth, tc.withheld); got != tc.want {
			t.Errorf("Sensitive(%d, %v) = %v, want %v", tc.truth, tc.withheld, got, tc.want)
		}
	}
}

// randomTable is a two-level hierarchy of areas (roots, middles, leaves)
// with random counts, each cell rounded, exact or withheld at random.
func randomTable(rng *rand.Rand, withTotal bool) *CountTable {
	t := &CountTable{Parent: map[string]string{}, True: map[Cell]int{}, Known: map[Cell]Interval{}}
	if withTotal {
		t.Parts, t.Total = ClassMeasures, "children"
	} else {
		t.Parts = []string{"households"}
	}
	var leaves []string
	for r := 0; r < 1+rng.IntN(2); r++ { // small: gonum's dense simplex is slow
		root := fmt.Sprintf("k%d", r)
		t.Parent[root] = ""
		for m := 0; m < 1+rng.IntN(2); m++ {
			mid := fmt.Sprintf("%s.%d", root, m)
			t.Parent[mid] = root
			for l := 0; l < 1+rng.IntN(2); l++ {
				leaf := fmt.Sprintf("%s.%d", mid, l)
				t.Parent[leaf] = mid
				leaves = append(leaves, leaf)
			}
		}
	}
	for _, l := range leaves {
		sum := 0
		for _, p := range t.Parts {
			v := rng.IntN(9)
			t.True[Cell{l, p}] = v
			sum += v
		}
		if withTotal {
			t.True[Cell{l, t.Total}] = sum
		}
	}
	// Parents' cells are their children's sums, deepest first.
	for depth := 1; depth >= 0; depth-- {
		for a, p := range t.Parent {
			if p == "" || depthOf(t.Parent, a) != depth+1 {
				continue
			}
			for _, m := range append(append([]string{}, t.Parts...), t.Total) {
				if m != "" {
					t.True[Cell{p, m}] += t.True[Cell{a, m}]
				}
			}
		}
	}
	for c, v := range t.True {
		switch x := rng.IntN(10); {
		case x < 6:
			t.Known[c] = RoundedInterval(RoundCount(v, 5), 5)
		case x < 7:
			t.Known[c] = Interval{v, v}
		default:
			t.Known[c] = Interval{0, Unbounded}
		}
	}
	return t
}

func depthOf(parent map[string]string, a string) int {
	d := 0
	for parent[a] != "" {
		a, d = parent[a], d+1
	}
	return d
}

// lpIntervals solves the same question as Intervals with a general LP
// (gonum's simplex), cell by cell: minimise and maximise each cell subject
// to every row and column and every published interval.
func lpIntervals(t *testing.T, tbl *CountTable) map[Cell]Interval {
	var cells []Cell
	index := map[Cell]int{}
	for c := range tbl.True {
		index[c] = len(cells)
		cells = append(cells, c)
	}
	// Constraints as rows of coefficients over the cells, = 0.
	var eqs [][]float64
	row := func() []float64 { return make([]float64, len(cells)) }
	children := map[string][]string{}
	for a, p := range tbl.Parent {
		if p != "" {
			children[p] = append(children[p], a)
		}
	}
	measures := append([]string{}, tbl.Parts...)
	if tbl.Total != "" {
		measures = append(measures, tbl.Total)
	}
	for a := range tbl.Parent {
		if tbl.Total != "" && len(children[a]) == 0 {
			r := row()
			r[index[Cell{a, tbl.Total}]] = -1
			for _, p := range tbl.Parts {
				r[index[Cell{a, p}]] = 1
			}
			eqs = append(eqs, r)
		}
		if len(children[a]) > 0 {
			for _, m := range measures {
				r := row()
				r[index[Cell{a, m}]] = -1
				for _, c := range children[a] {
					r[index[Cell{c, m}]] = 1
				}
				eqs = append(eqs, r)
			}
		}
	}
	// Standard form over y = x - lo >= 0 and one slack per bounded cell.
	var bounded []int
	for i, c := range cells {
		if tbl.Known[c].Hi != Unbounded {
			bounded = append(bounded, i)
		}
	}
	nv := len(cells) + len(bounded)
	nr := len(eqs) + len(bounded)
	A := mat.NewDense(nr, nv, nil)
	b := make([]float64, nr)
	for r, eq := range eqs {
		for i, v := range eq {
			A.Set(r, i, v)
			b[r] -= v * float64(tbl.Known[cells[i]].Lo)
		}
	}
	for k, i := range bounded {
		r := len(eqs) + k
		A.Set(r, i, 1)
		A.Set(r, len(cells)+k, 1)
		b[r] = float64(tbl.Known[cells[i]].Hi - tbl.Known[cells[i]].Lo)
	}
	out := map[Cell]Interval{}
	for i, c := range cells {
		obj := make([]float64, nv)
		obj[i] = 1
		lo, _, err := lp.Simplex(obj, A, b, 1e-9, nil)
		if err != nil {
			t.Fatalf("LP min %v: %v", c, err)
		}
		obj[i] = -1
		hi, _, err := lp.Simplex(obj, A, b, 1e-9, nil)
		iv := Interval{Lo: tbl.Known[c].Lo + int(math.Round(lo))}
		switch {
		case errors.Is(err, lp.ErrUnbounded):
			iv.Hi = Unbounded
		case err != nil:
			t.Fatalf("LP max %v: %v", c, err)
		default:
			iv.Hi = tbl.Known[c].Lo + int(math.Round(-hi))
		}
		out[c] = iv
	}
	return out
}

// The flow bounds are the LP bounds: 40 random tables, every cell.
func TestIntervalsEqualLinearProgramming(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	cells := 0
	tables := 40
	if testing.Short() {
		tables = 12 // make check runs this under the race detector
	}
	for i := 0; i < tables; i++ {
		tbl := randomTable(rng, i%3 != 0)
		got, err := tbl.Intervals(1000)
		if err != nil {
			t.Fatal(err)
		}
		want := lpIntervals(t, tbl)
		for c, w := range want {
			if got[c] != w {
				t.Fatalf("table %d cell %v: flow %v, LP %v (true %d, published %v)", i, c, got[c], w, tbl.True[c], tbl.Known[c])
			}
			cells++
		}
	}
	t.Logf("%d cells in %d tables: flow bounds equal LP bounds", cells, tables)
}
