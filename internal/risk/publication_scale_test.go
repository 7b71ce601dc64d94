package risk

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// scaleRule is the shipped model's publication rule.
var scaleRule = PublicationRule{MinHouseholds: 10, MinChildren: 20, RoundingBase: 5, MinIntervalWidth: 3,
	SmallCountMax: 4, ShareStep: 0.05, ScoreStep: 1, ChangeMinHouseholds: 10, ChangeMinChildren: 20}

// syntheticAreas builds kab kabupaten of 17 kecamatan of 13 villages each
// (East Java's averages: 8,492 villages in 666 kecamatan in 38 kabupaten),
// a survey of about 35 households per village with a quarter of the
// villages under the minimum sample, and parents that are the sums of their
// villages, as the publication reads them.
func syntheticAreas(seed uint64, kab int) []AreaCounts {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []AreaCounts
	for k := 0; k < kab; k++ {
		kc := fmt.Sprintf("kabupaten:%02d", k)
		kabSum := map[string]int{}
		var kecs []AreaCounts
		for c := 0; c < 17; c++ {
			cc := fmt.Sprintf("kecamatan:%02d.%02d", k, c)
			kecSum := map[string]int{}
			for v := 0; v < 13; v++ {
				h := 10 + rng.IntN(50)
				if rng.IntN(4) == 0 {
					h = rng.IntN(10)
				}
				counts := map[string]int{"households": h}
				children := 0
				for range h {
					children += rng.IntN(5)
					if rng.IntN(5) == 0 {
						counts["labourer_households"]++
					}
					if rng.IntN(3) == 0 {
						counts["poor_households"]++
					}
				}
				counts["children"] = children
				for range children {
					switch x := rng.IntN(100); {
					case x < 8:
						counts["hazardous"]++
					case x < 9:
						counts["child_labour"]++
					case x < 10:
						counts["light_work"]++
					default:
						counts["not_working"]++
					}
				}
				for m, n := range counts {
					kecSum[m] += n
				}
				out = append(out, AreaCounts{Area: fmt.Sprintf("desa:%02d.%02d.%02d", k, c, v), Parent: cc, Leaf: true, Counts: counts})
			}
			for m, n := range kecSum {
				kabSum[m] += n
			}
			kecs = append(kecs, AreaCounts{Area: cc, Parent: kc, Counts: kecSum})
		}
		out = append(out, kecs...)
		out = append(out, AreaCounts{Area: kc, Counts: kabSum})
	}
	return out
}

// BenchmarkPublishScale publishes and audits 1 to 380 synthetic kabupaten
// (221 villages, East Java's 8,398, the country's 83,980) and prints the
// cost per area: flat when the publication grows linearly with the areas.
func BenchmarkPublishScale(b *testing.B) {
	for _, kab := range []int{1, 4, 12, 38, 380} {
		areas := syntheticAreas(1, kab)
		b.Run(fmt.Sprintf("kabupaten=%d/areas=%d", kab, len(areas)), func(b *testing.B) {
			var rounds int
			start := time.Now()
			for b.Loop() {
				var err error
				if _, rounds, err = Publish(areas, scaleRule); err != nil {
					b.Fatal(err)
				}
			}
			per := time.Since(start) / time.Duration(b.N) / time.Duration(len(areas))
			b.ReportMetric(float64(per.Microseconds()), "µs/area")
			b.ReportMetric(float64(rounds), "rounds")
		})
	}
}

// Trees share nothing: the intervals of a table of several kabupaten,
// each audited in its own network, equal those of one network joining them
// under a root whose counts are all withheld (the audit before the split,
// whose hub joined every tree).
func TestTreesAuditedApartEqualOneNetwork(t *testing.T) {
	areas := syntheticAreas(3, 5)
	pub, _, err := Publish(areas, scaleRule)
	if err != nil {
		t.Fatal(err)
	}
	for _, withTotal := range []bool{true, false} {
		apart := &CountTable{Parent: map[string]string{}, True: map[Cell]int{}, Known: map[Cell]Interval{}}
		if withTotal {
			apart.Parts, apart.Total = ClassMeasures, "children"
		} else {
			apart.Parts = []string{"households"}
		}
		measures := append([]string{}, apart.Parts...)
		if withTotal {
			measures = append(measures, apart.Total)
		}
		joined := &CountTable{Parent: map[string]string{"all": ""}, Parts: apart.Parts, Total: apart.Total,
			True: map[Cell]int{}, Known: map[Cell]Interval{}}
		for _, a := range areas {
			apart.Parent[a.Area] = a.Parent
			joined.Parent[a.Area] = a.Parent
			if a.Parent == "" {
				joined.Parent[a.Area] = "all"
			}
			for _, m := range measures {
				c := Cell{a.Area, m}
				known := Interval{0, Unbounded}
				if v := pub[a.Area].Values[m]; v != nil {
					known = RoundedInterval(*v, scaleRule.RoundingBase)
				}
				apart.True[c], apart.Known[c] = a.Counts[m], known
				joined.True[c], joined.Known[c] = a.Counts[m], known
				joined.True[Cell{"all", m}] += a.Counts[m] * boolInt(a.Parent == "")
				joined.Known[Cell{"all", m}] = Interval{0, Unbounded}
			}
		}
		a, err := apart.Intervals(1000)
		if err != nil {
			t.Fatal(err)
		}
		j, err := joined.Intervals(1000)
		if err != nil {
			t.Fatal(err)
		}
		narrow := 0
		for c, iv := range a {
			if j[c] != iv {
				t.Fatalf("total %v, cell %v: %v audited apart, %v in one network", withTotal, c, iv, j[c])
			}
			if iv.Hi != Unbounded && iv.Width() < 1000 {
				narrow++
			}
		}
		if len(a) != len(areas)*len(measures) || narrow == 0 {
			t.Errorf("total %v: %d intervals for %d areas, %d bounded", withTotal, len(a), len(areas), narrow)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Areas whose parents form a cycle hang from no root: an error, never a
// table audited without them.
func TestTreesRefuseCycles(t *testing.T) {
	areas := []AreaCounts{{Area: "k", Counts: map[string]int{}}, {Area: "a", Parent: "b"}, {Area: "b", Parent: "a"}}
	if _, err := SplitTrees(areas); err == nil {
		t.Error("SplitTrees accepted a cycle")
	}
	tbl := &CountTable{Parent: map[string]string{"k": "", "a": "b", "b": "a"}, Parts: []string{"households"},
		True: map[Cell]int{}, Known: map[Cell]Interval{}}
	if _, err := tbl.Intervals(5); err == nil {
		t.Error("Intervals accepted a cycle")
	}
}
