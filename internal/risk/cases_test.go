package risk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCaseState(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	c := m.Cases
	yes, no := true, false
	opened := CaseEvent{On: day("2026-07-01"), Survey: true, InLabour: true}
	visit := func(on string, v Visit) CaseEvent { return CaseEvent{On: day(on), Visit: &v} }
	plan := Visit{Kind: "remediation", Outcome: "met", Actions: []string{"school_support"}, ActionStatus: "planned"}
	deliver := Visit{Kind: "remediation", Outcome: "met", Actions: []string{"school_support", "awareness"}, ActionStatus: "delivered"}
	outV := Visit{Kind: "follow_up", Outcome: "met", ChildWorking: &no}
	inV := Visit{Kind: "follow_up", Outcome: "met", ChildWorking: &yes}
	cases := []struct {
		name    string
		events  []CaseEvent
		status  string
		due     string // "" when closed or lost
		streak  int
		statusO string
	}{
		{"opened only: first visit due in 30 days", []CaseEvent{opened}, CaseIdentified, "2026-07-31", 0, "2026-07-01"},
		{"planned", []CaseEvent{opened, visit("2026-07-20", plan)}, CaseRemediationPlanned, "2027-01-20", 0, "2026-07-20"},
		{"delivered", []CaseEvent{opened, visit("2026-07-20", plan), visit("2026-08-10", deliver)}, CaseRemediated, "2027-02-10", 0, "2026-08-10"},
		{"one check out: followed up, not closed", []CaseEvent{opened, visit("2026-08-10", deliver), visit("2027-02-01", outV)}, CaseFollowedUp, "2027-08-01", 1, "2027-02-01"},
		{"two consecutive checks out: closed", []CaseEvent{opened, visit("2026-08-10", deliver), visit("2027-02-01", outV), visit("2027-08-03", outV)}, CaseClosed, "", 2, "2027-08-03"},
		{"a survey round counts as a check", []CaseEvent{opened, visit("2026-08-10", deliver), visit("2027-02-01", outV), {On: day("2027-07-05"), Survey: true, InLabour: false}}, CaseClosed, "", 2, "2027-07-05"},
		{"working in between resets the streak", []CaseEvent{opened, visit("2026-08-10", deliver), visit("2027-02-01", outV), visit("2027-08-01", inV), visit("2028-02-01", outV)}, CaseFollowedUp, "2028-08-01", 1, "2027-02-01"},
		{"closed then found working again: reopened", []CaseEvent{opened, visit("2026-08-10", deliver), visit("2027-02-01", outV), visit("2027-08-01", outV), {On: day("2028-07-01"), Survey: true, InLabour: true}}, CaseFollowedUp, "2029-01-01", 0, "2028-07-01"},
		{"moved: lost", []CaseEvent{opened, visit("2026-07-20", Visit{Kind: "remediation", Outcome: "moved"})}, CaseLost, "", 0, "2026-07-20"},
		{"one not found: still open, due from the visit", []CaseEvent{opened, visit("2026-07-20", Visit{Kind: "remediation", Outcome: "not_found"})}, CaseIdentified, "2027-01-20", 0, "2026-07-01"},
		{"two not found in a row: lost", []CaseEvent{opened, visit("2026-07-20", Visit{Kind: "remediation", Outcome: "not_found"}), visit("2026-08-20", Visit{Kind: "remediation", Outcome: "not_found"})}, CaseLost, "", 0, "2026-08-20"},
		{"not found, met, not found: not lost", []CaseEvent{opened, visit("2026-07-20", Visit{Kind: "remediation", Outcome: "not_found"}), visit("2026-08-01", plan), visit("2026-08-20", Visit{Kind: "remediation", Outcome: "not_found"})}, CaseRemediationPlanned, "2027-02-20", 0, "2026-08-01"},
		{"lost then surveyed again: taken up", []CaseEvent{opened, visit("2026-07-20", Visit{Kind: "remediation", Outcome: "moved"}), {On: day("2027-07-01"), Survey: true, InLabour: true}}, CaseIdentified, "2028-01-01", 0, "2027-07-01"},
		{"events out of order are sorted", []CaseEvent{visit("2027-02-01", outV), visit("2026-08-10", deliver), opened, visit("2027-08-03", outV)}, CaseClosed, "", 2, "2027-08-03"},
		{"out of work without remediation: closes by the rule", []CaseEvent{opened, {On: day("2027-07-01"), Survey: true}, visit("2028-01-05", outV)}, CaseClosed, "", 2, "2028-01-05"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := c.State(tc.events)
			if s.Status != tc.status || s.OutStreak != tc.streak {
				t.Fatalf("status %s streak %d, want %s streak %d", s.Status, s.OutStreak, tc.status, tc.streak)
			}
			if got := s.StatusOn.Format(time.DateOnly); got != tc.statusO {
				t.Errorf("status on %s, want %s", got, tc.statusO)
			}
			switch {
			case tc.due == "" && s.NextDue != nil:
				t.Errorf("due %s for a %s case", s.NextDue.Format(time.DateOnly), s.Status)
			case tc.due != "" && (s.NextDue == nil || s.NextDue.Format(time.DateOnly) != tc.due):
				t.Errorf("due %v, want %s", s.NextDue, tc.due)
			}
		})
	}
}

func TestVisitValidate(t *testing.T) {
	m, _ := DefaultModel()
	yes := true
	today := day("2027-01-10")
	ok := Visit{CaseID: 1, VisitedOn: day("2027-01-05"), Kind: "follow_up", Outcome: "met", ChildWorking: &yes}
	if err := ok.Validate(m.Cases, today); err != nil {
		t.Fatalf("valid visit refused: %v", err)
	}
	bad := []struct {
		field string
		v     func(v *Visit)
	}{
		{"visited_on", func(v *Visit) { v.VisitedOn = day("2027-03-01") }},
		{"kind", func(v *Visit) { v.Kind = "chat" }},
		{"outcome", func(v *Visit) { v.Outcome = "moved" }}, // moved, yet child_working
		{"child_working", func(v *Visit) { v.ChildWorking = nil }},
		{"actions", func(v *Visit) { v.Actions, v.ActionStatus = []string{"cash"}, "planned" }},
		{"action_status", func(v *Visit) { v.Actions, v.ActionStatus = []string{"awareness"}, "" }},
		{"action_status", func(v *Visit) { v.ActionStatus = "delivered" }},
	}
	for _, b := range bad {
		v := ok
		b.v(&v)
		err := v.Validate(m.Cases, today)
		if err == nil || ErrorCode(err) != EINVALID || !startsWith(err.Error(), b.field+":") {
			t.Errorf("%s: got %v, want an invalid error naming the field", b.field, err)
		}
	}
}

func startsWith(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func TestMatchChildren(t *testing.T) {
	id := Identity{MaxDistanceM: 50, AgeToleranceYears: 1}
	k := func(o int, sex string, age int) ChildAge { return ChildAge{o, sex, age} }
	cases := []struct {
		name           string
		earlier, later []ChildAge
		years          float64
		ok             bool
		pair           map[int]int
	}{
		{"same children a year older, reordered", []ChildAge{k(1, "female", 12), k(2, "male", 9)}, []ChildAge{k(1, "male", 10), k(2, "female", 13)}, 1, true, map[int]int{1: 2, 2: 1}},
		{"birthday not yet reached", []ChildAge{k(1, "female", 12)}, []ChildAge{k(1, "female", 12)}, 1, true, map[int]int{1: 1}},
		{"a baby born since", []ChildAge{k(1, "male", 8)}, []ChildAge{k(1, "male", 9), k(2, "female", 0)}, 1, true, map[int]int{1: 1}},
		{"the oldest turned 18", []ChildAge{k(1, "male", 17), k(2, "female", 11)}, []ChildAge{k(1, "female", 12)}, 1, true, map[int]int{1: 0, 2: 1}},
		{"a child missing", []ChildAge{k(1, "male", 8), k(2, "male", 6)}, []ChildAge{k(1, "male", 9)}, 1, false, nil},
		{"sex differs", []ChildAge{k(1, "male", 8)}, []ChildAge{k(1, "female", 9)}, 1, false, nil},
		{"an older child appears", []ChildAge{k(1, "male", 8)}, []ChildAge{k(1, "male", 9), k(2, "female", 14)}, 1, false, nil},
		{"ages three years off", []ChildAge{k(1, "male", 8)}, []ChildAge{k(1, "male", 12)}, 1, false, nil},
		{"no children either time", nil, nil, 1, true, map[int]int{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pair, ok := id.MatchChildren(tc.earlier, tc.later, tc.years)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			for e, l := range tc.pair {
				if pair[e] != l {
					t.Errorf("child %d paired with %d, want %d (%v)", e, pair[e], l, pair)
				}
			}
		})
	}
}

func TestCheckProgrammeID(t *testing.T) {
	for s, ok := range map[string]bool{"KSP-001234": true, "": true, "ksp-1": false, "3513010101010001": false, "Budi": false} {
		if err := CheckProgrammeID(s); (err == nil) != ok {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// TestPrevalenceChangeSimulated simulates two rounds of a village survey
// with children clustered in households that work together, and checks
// the change's interval: with no true change it calls a change
// significant about as often as its level allows (not more), and with a
// real fall of 15 points it almost always sees it.
func TestPrevalenceChangeSimulated(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	const level = 0.9
	round := func(p float64, households int) (x, n float64, s ClusterSums) {
		for h := 0; h < households; h++ {
			kids := 1 + r.IntN(4)
			// a household's children share its propensity (clustered)
			ph := p
			if r.Float64() < 0.5 {
				ph = math.Min(1, p*1.8)
			} else {
				ph = math.Max(0, p*0.2)
			}
			y := 0
			for k := 0; k < kids; k++ {
				if r.Float64() < ph {
					y++
				}
			}
			x, n = x+float64(y), n+float64(kids)
			s.Households++
			s.HouseholdsWithKid++
			s.Y, s.N = s.Y+float64(y), s.N+float64(kids)
			s.YY, s.YN, s.NN = s.YY+float64(y*y), s.YN+float64(y*kids), s.NN+float64(kids*kids)
		}
		return
	}
	trials := 2000
	falsePos, naiveFalsePos, hits := 0, 0, 0
	for i := 0; i < trials; i++ {
		x1, n1, s1 := round(0.3, 60)
		x2, n2, s2 := round(0.3, 60)
		c, _ := PrevalenceChange(x1, n1, s1.DesignEffect(), x2, n2, s2.DesignEffect(), level)
		if c.Significant {
			falsePos++
		}
		if c, _ := PrevalenceChange(x1, n1, 1, x2, n2, 1, level); c.Significant {
			naiveFalsePos++
		}
		x3, n3, s3 := round(0.15, 60)
		if c, _ := PrevalenceChange(x1, n1, s1.DesignEffect(), x3, n3, s3.DesignEffect(), level); c.Significant && c.Diff < 0 {
			hits++
		}
	}
	fp, naive, power := float64(falsePos)/float64(trials), float64(naiveFalsePos)/float64(trials), float64(hits)/float64(trials)
	t.Logf("no change: significant in %.3f (independent children: %.3f); a fall of 0.15: seen in %.3f", fp, naive, power)
	if fp > 1-level+0.02 {
		t.Errorf("no true change, yet called significant in %.3f of trials: more than the %.2f the level allows", fp, 1-level)
	}
	if naive <= fp {
		t.Errorf("treating clustered children as independent should call more false changes (%.3f) than the design effect (%.3f)", naive, fp)
	}
	if power < 0.8 {
		t.Errorf("a fall from 0.30 to 0.15 seen in only %.3f of trials", power)
	}
}

// TestPipelinePublicationAttacked publishes random case pipelines over a
// small area tree and attacks each publication with a linear program (the
// attacker of TestIntervalsEqualLinearProgramming, independent of the flow
// bounds PublishTable uses): no published or withheld count may be
// narrowed beyond the rule.
func TestPipelinePublicationAttacked(t *testing.T) {
	m, _ := DefaultModel()
	rule := m.Publication
	rng := rand.New(rand.NewPCG(3, 5))
	withheld, cells := 0, 0
	trials := 6
	if testing.Short() {
		trials = 2 // make check runs this under the race detector
	}
	for trial := 0; trial < trials; trial++ {
		var areas []AreaCounts
		add := func(area, parent string, leaf bool) {
			areas = append(areas, AreaCounts{Area: area, Parent: parent, Leaf: leaf, Counts: map[string]int{}})
		}
		add("kab:1", "", false)
		for k := 0; k < 2; k++ {
			kec := fmt.Sprintf("kec:%d", k)
			add(kec, "kab:1", false)
			for v := 0; v < 3; v++ {
				add(fmt.Sprintf("desa:%d.%d", k, v), kec, true)
			}
		}
		idx := map[string]int{}
		for i, a := range areas {
			idx[a.Area] = i
		}
		for i := range areas { // leaves first get counts, then sums up the tree
			a := &areas[i]
			if !a.Leaf {
				continue
			}
			for _, s := range PipelineMeasures {
				n := 0
				if rng.Float64() < 0.6 {
					n = rng.IntN(9)
				}
				for p := a.Area; p != ""; p = areas[idx[p]].Parent {
					areas[idx[p]].Counts[s] += n
					areas[idx[p]].Counts[PipelineTotal] += n
				}
			}
		}
		pub, err := PublishTable(areas, PipelineMeasures, PipelineTotal, rule.MinChildren, rule)
		if err != nil {
			t.Fatal(err)
		}
		tbl := &CountTable{Parent: map[string]string{}, Parts: PipelineMeasures, Total: PipelineTotal, True: map[Cell]int{}, Known: map[Cell]Interval{}}
		for _, a := range areas {
			tbl.Parent[a.Area] = a.Parent
			for _, ms := range append(append([]string{}, PipelineMeasures...), PipelineTotal) {
				c := Cell{a.Area, ms}
				tbl.True[c] = a.Counts[ms]
				if v := pub[a.Area].Values[ms]; v != nil {
					if *v%rule.RoundingBase != 0 {
						t.Fatalf("%v published as %d: not rounded to %d", c, *v, rule.RoundingBase)
					}
					tbl.Known[c] = RoundedInterval(*v, rule.RoundingBase)
				} else {
					tbl.Known[c] = Interval{0, Unbounded}
					withheld++
				}
				cells++
			}
		}
		dr := rule.Disclosure()
		for c, iv := range lpIntervals(t, tbl) {
			w := pub[c.Area].Values[c.Measure] == nil
			if !dr.Safe(iv, dr.Sensitive(tbl.True[c], w)) {
				t.Errorf("trial %d: %v (true %d, withheld %v) narrowed to %v", trial, c, tbl.True[c], w, iv)
			}
		}
	}
	t.Logf("%d cells, %d withheld; the LP attacker narrows none beyond the rule", cells, withheld)
}

// TestMatchChildrenNotGreedy: nearest-first pairing of two sisters aged 14
// and 15, surveyed again 0.41 years on as 15 and 16, takes the 15-year-old
// for the elder and leaves the younger none; the order-keeping alignment
// pairs them both.
func TestMatchChildrenNotGreedy(t *testing.T) {
	id := Identity{MaxDistanceM: 50, AgeToleranceYears: 1}
	pair, ok := id.MatchChildren([]ChildAge{{1, "female", 14}, {2, "female", 15}}, []ChildAge{{1, "female", 15}, {2, "female", 16}}, 0.41)
	if !ok || pair[1] != 1 || pair[2] != 2 {
		t.Errorf("pair %v ok %v, want 1->1, 2->2", pair, ok)
	}
}

// TestPanelChangeSimulated: with the same children surveyed twice and their
// status persisting, the panel's interval keeps its level (covers the true
// change about 90% of the time, calls no-change villages changed at most
// about 10%) and is narrower than the independent rounds' interval, so it
// sees more of the villages that truly fell. Without persistence it
// gains nothing and loses nothing.
func TestPanelChangeSimulated(t *testing.T) {
	for _, c := range []struct {
		persistence float64
		gain        bool
	}{{0.6, true}, {0, false}} {
		res := EvaluatePanel(PanelOptions{Replications: 40, Villages: 200, Children: 80, Overlap: 0.8,
			Persistence: c.persistence, Fall: 0.1, Level: 0.9, Seed: 3})
		ind, pan := res[0], res[1]
		t.Logf("persistence %.1f: independent covers %.3f, false %.3f, power %.3f, width %.3f; panel (overlap %.2f, r %.2f) covers %.3f, false %.3f, power %.3f, width %.3f, design effect %.2f",
			c.persistence, ind.Coverage, ind.FalseChange, ind.Power, ind.Width, pan.Overlap, pan.Corr, pan.Coverage, pan.FalseChange, pan.Power, pan.Width, pan.DesignEffect)
		if pan.Coverage < 0.87 || pan.Coverage > 0.95 || pan.FalseChange > 0.13 {
			t.Errorf("persistence %.1f: the panel's interval covers %.3f and calls %.3f of unchanged villages changed", c.persistence, pan.Coverage, pan.FalseChange)
		}
		if c.gain && (pan.Power < ind.Power+0.05 || pan.DesignEffect > 0.8 || math.Abs(pan.Corr-c.persistence) > 0.1) {
			t.Errorf("persistence %.1f: panel power %.3f vs %.3f, design effect %.2f, estimated correlation %.2f", c.persistence, pan.Power, ind.Power, pan.DesignEffect, pan.Corr)
		}
		if !c.gain && (pan.DesignEffect < 0.95 || math.Abs(pan.Power-ind.Power) > 0.03) {
			t.Errorf("no persistence: panel design effect %.2f, power %.3f vs %.3f", pan.DesignEffect, pan.Power, ind.Power)
		}
	}
}

// TestIdentityDecide: the card decides (its latest submission); else one
// household whose children fit by place; several are ambiguous, never
// guessed; each identity speaks through its latest earlier submission.
func TestIdentityDecide(t *testing.T) {
	id := Identity{MaxDistanceM: 50, AgeToleranceYears: 1}
	now := []ChildAge{{1, "female", 13}, {2, "male", 10}}
	fits := []ChildAge{{1, "female", 12}, {2, "male", 9}} // a year before
	misfit := []ChildAge{{1, "male", 5}}                  // another family
	old := []ChildAge{{1, "female", 11}, {2, "male", 8}}  // two years before
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name       string
		cands      []IdentityCandidate
		rule       string
		identity   int64
		from       int64
		candidates []int64
	}{
		{"nobody", nil, IdentityNew, 0, 0, nil},
		{"one by place", []IdentityCandidate{{Submission: 11, Identity: 1, Years: 1, At: day(2), Children: fits}, {Submission: 12, Identity: 2, Years: 1, At: day(2), Children: misfit}},
			IdentityByPlace, 1, 11, nil},
		{"two by place", []IdentityCandidate{{Submission: 11, Identity: 1, Years: 1, At: day(2), Children: fits}, {Submission: 13, Identity: 3, Years: 1, At: day(3), Children: fits}},
			IdentityAmbiguous, 0, 0, []int64{11, 13}},
		{"the card wins, its latest", []IdentityCandidate{{Submission: 11, Identity: 1, Years: 1, At: day(2), Children: fits},
			{Submission: 14, Identity: 4, Card: true, Years: 1, At: day(1), Children: misfit}, {Submission: 15, Identity: 5, Card: true, Years: 1, At: day(5), Children: misfit}},
			IdentityByCard, 5, 15, nil},
		{"an identity speaks through its latest", []IdentityCandidate{{Submission: 16, Identity: 6, Years: 2, At: day(1), Children: old}, {Submission: 17, Identity: 6, Years: 1, At: day(9), Children: misfit}},
			IdentityNew, 0, 0, nil},
	} {
		d := id.Decide(now, tc.cands)
		got := append([]int64(nil), d.Candidates...)
		slices.Sort(got)
		if d.Rule != tc.rule || d.Identity != tc.identity || d.From != tc.from || !slices.Equal(got, tc.candidates) {
			t.Errorf("%s: %+v, want rule %s identity %d from %d candidates %v", tc.name, d, tc.rule, tc.identity, tc.from, tc.candidates)
		}
		if tc.rule == IdentityByPlace && (d.Pair[1] != 1 || d.Pair[2] != 2) {
			t.Errorf("%s: children paired %v, want 1->1, 2->2", tc.name, d.Pair)
		}
	}
}

// TestResolveIdentityConflicts: one submission per household and round.
// An identity claimed once, and not yet in its round, stands; claimed
// twice in a round, both claims fall to ambiguous (with the submission each
// was matched from as its candidate); a lone card claim stands even where
// the round already holds the identity; the same identity in two rounds is
// no conflict.
func TestResolveIdentityConflicts(t *testing.T) {
	dec := func(rule string, ident, from int64) *IdentityDecision {
		return &IdentityDecision{Rule: rule, Identity: ident, From: from, Pair: map[int]int{1: 1}}
	}
	decided := map[int64]*IdentityDecision{
		1: dec(IdentityByPlace, 100, 10), // alone in 2026b: stands
		2: dec(IdentityByPlace, 200, 20), // 2 and 3 claim 200 in 2026b
		3: dec(IdentityByCard, 200, 21),
		4: dec(IdentityByPlace, 300, 30), // 300 already in 2026b
		5: dec(IdentityByCard, 400, 40),  // 400 already in 2026b, by card: stands
		6: dec(IdentityByPlace, 100, 11), // 100 again, but in 2027a: stands
		7: {Rule: IdentityNew},
	}
	roundOf := map[int64]string{1: "2026b", 2: "2026b", 3: "2026b", 4: "2026b", 5: "2026b", 6: "2027a", 7: "2026b"}
	claims := IdentityClaims(decided, roundOf)
	want := []RoundIdentity{{"2026b", 100}, {"2026b", 200}, {"2026b", 300}, {"2026b", 400}, {"2027a", 100}}
	if fmt.Sprint(claims) != fmt.Sprint(want) {
		t.Errorf("claims %v, want %v", claims, want)
	}
	ResolveIdentityConflicts(decided, roundOf, map[RoundIdentity]bool{{"2026b", 300}: true, {"2026b", 400}: true})
	for hid, w := range map[int64]struct {
		rule  string
		ident int64
		cands []int64
	}{
		1: {IdentityByPlace, 100, nil},
		2: {IdentityAmbiguous, 0, []int64{20}},
		3: {IdentityAmbiguous, 0, []int64{21}},
		4: {IdentityAmbiguous, 0, []int64{30}},
		5: {IdentityByCard, 400, nil},
		6: {IdentityByPlace, 100, nil},
		7: {IdentityNew, 0, nil},
	} {
		d := decided[hid]
		if d.Rule != w.rule || d.Identity != w.ident || fmt.Sprint(d.Candidates) != fmt.Sprint(w.cands) || (d.Rule == IdentityAmbiguous) != (d.Pair == nil && d.Rule != IdentityNew) {
			t.Errorf("household %d: %+v, want rule %s identity %d candidates %v", hid, *d, w.rule, w.ident, w.cands)
		}
	}
}
