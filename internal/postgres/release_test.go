package postgres_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/demo"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// publicView is what anyone who keeps every release has of one: every
// published figure of every area (area_public, round_area, the case
// pipeline, the rounds' sizes), and what a planner has besides, the number
// of masked household points shown in each village.
type publicView struct {
	release int64
	rows    map[string]string // table/area -> the row as published
	hz      map[string]*int   // table/area -> published hazardous count
	masked  map[string]int    // village -> masked points shown
}

func snapshot(t *testing.T, db *postgres.DB) publicView {
	t.Helper()
	ctx := context.Background()
	v := publicView{rows: map[string]string{}, hz: map[string]*int{}, masked: map[string]int{}}
	if err := db.Pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM release`).Scan(&v.release); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT 'area_public/' || level || ':' || code, t::text, hazardous FROM area_public t`,
		`SELECT 'round_area/' || round_id || '/' || level || ':' || code, t::text, hazardous FROM round_area t`,
		`SELECT 'pipeline/' || level || ':' || code, t::text, NULL::int FROM pipeline_public t`,
		`SELECT 'rounds/' || round_id, (households, children, design_effect)::text, NULL::int FROM round_summary`,
		`SELECT 'hotspot/' || village_code, t::text, NULL::int FROM hotspot t`,
	} {
		rows, err := db.Pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k, row string
			var hz *int
			if err := rows.Scan(&k, &row, &hz); err != nil {
				t.Fatal(err)
			}
			v.rows[k], v.hz[k] = row, hz
		}
		rows.Close()
	}
	rows, err := db.Pool.Query(ctx, `SELECT village_code, count(*) FROM household_mask WHERE shown GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var code string
		var n int
		if err := rows.Scan(&code, &n); err != nil {
			t.Fatal(err)
		}
		v.masked[code] = n
	}
	return v
}

// compare is the attacker's reading of two consecutive releases: did any
// published hazardous count move in the direction the target's children
// would move it (fell for an erasure, rose for a late submission), and did
// any published figure move at all.
func compare(before, after publicView, dir int) (hzSignal bool, moved []string) {
	for k, row := range after.rows {
		if before.rows[k] != row {
			moved = append(moved, k)
		}
		b, a := before.hz[k], after.hz[k]
		if b != nil && a != nil && (*a-*b)*dir > 0 {
			hzSignal = true
		}
	}
	for k := range before.rows {
		if _, ok := after.rows[k]; !ok {
			moved = append(moved, k)
		}
	}
	return hzSignal, moved
}

type attackTally struct{ flagged, moved, n int }

func (a attackTally) String() string {
	return fmt.Sprintf("%d of %d flagged (%d with any published figure moved)", a.flagged, a.n, a.moved)
}

// pickHouseholds returns n households of distinct villages with (hazardous)
// or without any child in hazardous work, in villages whose counts are
// published, none in the villages of avoid.
func pickHouseholds(t *testing.T, db *postgres.DB, hazardous bool, n int, avoid map[string]bool) []string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `
		SELECT DISTINCT ON (h.village_code) h.survey_uuid, h.village_code
		FROM household h JOIN area_public a ON a.level = 'desa' AND a.code = h.village_code AND a.hazardous IS NOT NULL
		WHERE EXISTS (SELECT 1 FROM child_class k JOIN child c USING (household_id, ordinal) WHERE k.household_id = h.id AND c.age >= 5)
		  AND EXISTS (SELECT 1 FROM child_class k WHERE k.household_id = h.id AND k.classification = 'hazardous') = $1
		ORDER BY h.village_code, h.id`, hazardous)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var uuid, village string
		if err := rows.Scan(&uuid, &village); err != nil {
			t.Fatal(err)
		}
		if avoid[village] || len(out) == n {
			continue
		}
		avoid[village] = true
		out = append(out, uuid)
	}
	if len(out) < n {
		t.Fatalf("only %d households (hazardous %v) in distinct published villages, want %d", len(out), hazardous, n)
	}
	return out
}

// explained reports why figures moved in a run, or an error: a move is
// allowed only with bases taken anew by batches at the thresholds.
func explained(m *risk.Model, run postgres.ScoreRun, moved []string) error {
	if len(moved) == 0 {
		return nil
	}
	if len(run.Refreshed) == 0 {
		return fmt.Errorf("%d published figures moved with no basis taken anew, e.g. %s", len(moved), moved[0])
	}
	for _, r := range run.Refreshed {
		p := m.Publication
		ok := r.Rebase || (r.Cases == 0 && r.Households >= p.ChangeMinHouseholds && r.Children >= p.ChangeMinChildren) ||
			(r.Cases >= p.ChangeMinChildren)
		if !ok {
			return fmt.Errorf("basis %s taken anew by a batch under the thresholds: %+v", r.Area, r)
		}
	}
	return nil
}

// eraseAndAttack erases each household in turn, re-scores, and reads the
// public view before and after as the attacker does.
func eraseAndAttack(t *testing.T, db *postgres.DB, m *risk.Model, uuids []string) (attackTally, []string) {
	t.Helper()
	ctx := context.Background()
	var tally attackTally
	var problems []string
	before := snapshot(t, db)
	for _, u := range uuids {
		if _, err := db.EraseHousehold(ctx, postgres.Erasure{UUID: u, By: "test", Reason: "consent withdrawn"}); err != nil {
			t.Fatal(err)
		}
		run, err := db.Score(ctx, m, 0)
		if err != nil {
			t.Fatal(err)
		}
		after := snapshot(t, db)
		hz, moved := compare(before, after, -1)
		tally.n++
		if hz {
			tally.flagged++
		}
		if len(moved) > 0 {
			tally.moved++
		}
		if err := explained(m, run, moved); err != nil {
			problems = append(problems, u+": "+err.Error())
		}
		before = after
	}
	return tally, problems
}

// TestDifferencingAttack attacks the published tables over time, as the
// issue's attacker did: it knows one household left (or arrived), keeps
// both releases, and reads the change. On the 783 real villages with a
// generated survey it erases households with and without a child in
// hazardous work one at a time, and imports late households one at a time,
// re-scoring after each; the rule must leave every published figure where
// it was (so the attack flags nobody), and a run with nothing changed must
// publish the same release. Then, as a mutation check, the same attack with
// the rule switched off (a basis refreshed by any single change) must
// succeed.
func TestDifferencingAttack(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	gen := dbtest.GenerateRealSurvey(t, db, 8000, 7)
	late := holdOut(t, gen, 8)
	dbtest.ImportSurveyFiles(t, db, filepath.Join(gen, demo.HouseholdsFile), filepath.Join(gen, demo.ChildrenFile))
	m, err := risk.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.Score(ctx, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !first.NewRelease || first.Release != 1 || len(first.Refreshed) == 0 {
		t.Fatalf("first run: release %d (new %v), %d bases; want release 1, new, bases", first.Release, first.NewRelease, len(first.Refreshed))
	}

	// Freshly taken, every basis is the village's exact figures as the
	// scoring run's own aggregation (area_score) has them.
	var bases, differ int
	if err := db.Pool.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE (b.households, b.children, b.hazardous, b.child_labour, b.light_work, b.not_working,
				b.labourer_households, b.poor_households) IS DISTINCT FROM (a.households, a.children, a.hazardous, a.child_labour,
				a.light_work, a.not_working, a.labourer_households, a.poor_households)
			OR abs(b.score_sum / b.score_n - a.mean_household_score) > 1e-3)
		FROM release_basis b JOIN area_score a ON a.level = 'desa' AND a.code = b.village_code`).Scan(&bases, &differ); err != nil {
		t.Fatal(err)
	}
	if bases < 100 || differ != 0 { // 8,000 households: 182 villages reach a first batch
		t.Errorf("%d bases, %d of them not the village's exact counts and mean score", bases, differ)
	}

	// Nothing changed: the same release, byte for byte.
	v1 := snapshot(t, db)
	again, err := db.Score(ctx, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	v2 := snapshot(t, db)
	if again.NewRelease || again.Release != first.Release {
		t.Errorf("a run with nothing changed made release %d (new %v), want release %d again", again.Release, again.NewRelease, first.Release)
	}
	if _, moved := compare(v1, v2, 0); len(moved) > 0 {
		t.Errorf("a run with nothing changed moved %d published figures, e.g. %s", len(moved), moved[0])
	}
	rel, err := db.Releases(ctx, 5)
	if err != nil || len(rel) != 1 || rel[0].Runs != 2 || rel[0].Hash == "" {
		t.Fatalf("ledger after two identical runs: %+v, %v; want one release published by 2 runs", rel, err)
	}

	// Erasures, one at a time.
	avoid := map[string]bool{}
	hz := pickHouseholds(t, db, true, 8, avoid)
	none := pickHouseholds(t, db, false, 8, avoid)
	hzTally, hzLog := eraseAndAttack(t, db, m, hz)
	noneTally, noneLog := eraseAndAttack(t, db, m, none)
	t.Logf("erasures: households with a child in hazardous work: %s; without: %s", hzTally, noneTally)
	if len(hzLog)+len(noneLog) > 0 {
		t.Errorf("erasures moved published figures without a batch:\n%s", strings.Join(append(hzLog, noneLog...), "\n"))
	}
	if hzTally.flagged > noneTally.flagged+1 {
		t.Errorf("the erasure attack flags %s with a hazardous child, %s without", hzTally, noneTally)
	}

	// Late submissions, one at a time.
	var lateHz, lateNone attackTally
	before := snapshot(t, db)
	for _, l := range late {
		dbtest.ImportSurveyFiles(t, db, l.households, l.children)
		run, err := db.Score(ctx, m, 0)
		if err != nil {
			t.Fatal(err)
		}
		after := snapshot(t, db)
		flag, moved := compare(before, after, +1)
		var isHz bool
		if err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM child_class k JOIN household h ON h.id = k.household_id
			WHERE h.survey_uuid = $1 AND k.classification = 'hazardous')`, l.uuid).Scan(&isHz); err != nil {
			t.Fatal(err)
		}
		tl := &lateNone
		if isHz {
			tl = &lateHz
		}
		tl.n++
		if flag {
			tl.flagged++
		}
		if len(moved) > 0 {
			tl.moved++
		}
		if err := explained(m, run, moved); err != nil {
			t.Errorf("late household %s: %v", l.uuid, err)
		}
		before = after
	}
	t.Logf("late submissions: with a hazardous child: %s; without: %s", lateHz, lateNone)
	if lateHz.n == 0 || lateNone.n == 0 {
		t.Errorf("late households: %d with a hazardous child, %d without; want both", lateHz.n, lateNone.n)
	}

	// A batch does move a village's figures: erase households of one
	// published village until its batch reaches the thresholds.
	var village string
	if err := db.Pool.QueryRow(ctx, `SELECT a.code FROM area_public a WHERE a.level = 'desa' AND a.households >= 30
		ORDER BY a.households DESC, a.code LIMIT 1`).Scan(&village); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Pool.Query(ctx, `SELECT h.survey_uuid FROM household h WHERE h.village_code = $1
		ORDER BY (SELECT count(*) FROM child c WHERE c.household_id = h.id) DESC, h.id LIMIT 12`, village)
	if err != nil {
		t.Fatal(err)
	}
	var batch []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			t.Fatal(err)
		}
		batch = append(batch, u)
	}
	rows.Close()
	refreshedAt := -1
	for i, u := range batch {
		if _, err := db.EraseHousehold(ctx, postgres.Erasure{UUID: u, By: "test", Reason: "moved away"}); err != nil {
			t.Fatal(err)
		}
		run, err := db.Score(ctx, m, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range run.Refreshed {
			if r.Area == "desa:"+village {
				if r.Households < m.Publication.ChangeMinHouseholds || r.Children < m.Publication.ChangeMinChildren {
					t.Errorf("village %s refreshed by a batch of %d households and %d children, under the thresholds", village, r.Households, r.Children)
				}
				refreshedAt = i + 1
			}
		}
		if refreshedAt > 0 {
			if !run.NewRelease {
				t.Errorf("the batch refreshed village %s but published no new release", village)
			}
			break
		}
	}
	if refreshedAt < m.Publication.ChangeMinHouseholds {
		t.Errorf("village %s refreshed after %d erasures, want it held until %d", village, refreshedAt, m.Publication.ChangeMinHouseholds)
	}
	check, err := db.DisclosureCheck(ctx, m)
	if err != nil || len(check) > 0 {
		t.Errorf("disclosure check after the attacks: %v\n%s", err, strings.Join(check, "\n"))
	}

	// Mutation check: with the rule off, the same attack must work.
	off := *m
	off.Publication.ChangeMinHouseholds, off.Publication.ChangeMinChildren = 1, 0
	if _, err := db.Score(ctx, &off, 0); err != nil { // takes every basis waiting
		t.Fatal(err)
	}
	hzOff, _ := eraseAndAttack(t, db, &off, pickHouseholds(t, db, true, 6, avoid))
	noneOff, _ := eraseAndAttack(t, db, &off, pickHouseholds(t, db, false, 6, avoid))
	t.Logf("rule off (mutation): erasures with a hazardous child: %s; without: %s", hzOff, noneOff)
	if hzOff.flagged < 3 || noneOff.flagged > 0 || hzOff.moved < 6 {
		t.Errorf("with the rule off the attack should flag households with a hazardous child and no others: %s vs %s", hzOff, noneOff)
	}
	// The history audit sees it too: releases that moved on single changes.
	check, err = db.DisclosureCheck(ctx, m)
	single := 0
	for _, p := range check {
		if strings.Contains(p, "under the rule's thresholds") {
			single++
		}
	}
	if err != nil || single < 6 {
		t.Errorf("disclosure check over the releases made with the rule off: %v, %d batches under the thresholds found, want at least 6", err, single)
	}
}

type lateHousehold struct{ uuid, households, children string }

// holdOut removes n households (with their children) from a generated
// survey, each from a different village with at least 15 households, and
// writes each into files of its own for a late import.
func holdOut(t *testing.T, dir string, n int) []lateHousehold {
	t.Helper()
	read := func(name string) [][]string {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	write := func(path string, recs [][]string) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := csv.NewWriter(f)
		w.WriteAll(recs)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	hh, ch := read(demo.HouseholdsFile), read(demo.ChildrenFile)
	col := func(header []string, name string) int {
		for i, h := range header {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	vi, ui, ii := col(hh[0], "household/village"), col(hh[0], "_uuid"), col(hh[0], "_index")
	pi := col(ch[0], "_parent_index")
	gts := col(ch[0], "children/gts_symptoms")
	size := map[string]int{}
	for _, r := range hh[1:] {
		size[r[vi]]++
	}
	kids := map[string][][]string{}
	for _, r := range ch[1:] {
		kids[r[pi]] = append(kids[r[pi]], r)
	}
	// Half with a child showing green tobacco sickness (hazardous by the
	// rule), half whose children do not work at all.
	works := col(ch[0], "children/works")
	used, held := map[string]bool{}, map[string]bool{}
	var out []lateHousehold
	keep := [][]string{hh[0]}
	for _, r := range hh[1:] {
		ks := kids[r[ii]]
		sick, idle := false, len(ks) > 0
		for _, k := range ks {
			sick = sick || k[gts] != ""
			idle = idle && k[works] == "no"
		}
		want := (len(out)%2 == 0 && sick) || (len(out)%2 == 1 && idle)
		if len(out) < n && want && !used[r[vi]] && size[r[vi]] >= 15 {
			used[r[vi]], held[r[ii]] = true, true
			l := lateHousehold{uuid: r[ui], households: filepath.Join(dir, fmt.Sprintf("late-%d.csv", len(out))),
				children: filepath.Join(dir, fmt.Sprintf("late-%d-children.csv", len(out)))}
			write(l.households, [][]string{hh[0], r})
			write(l.children, append([][]string{ch[0]}, ks...))
			out = append(out, l)
			continue
		}
		keep = append(keep, r)
	}
	if len(out) < n {
		t.Fatalf("held out %d late households, want %d", len(out), n)
	}
	write(filepath.Join(dir, demo.HouseholdsFile), keep)
	keepKids := [][]string{ch[0]}
	for _, r := range ch[1:] {
		if !held[r[pi]] {
			keepKids = append(keepKids, r)
		}
	}
	write(filepath.Join(dir, demo.ChildrenFile), keepKids)
	return out
}

// TestLateArrivalsInAnUnsurveyedVillageWait: households that arrive after
// a round was published, in villages that had none, in batches too small
// for a basis, move nothing in the next release. Before migration 020 such
// a village went from no_data to insufficient_data (read from the live
// households), a move the history check refused and that said a household
// had just been surveyed there.
func TestLateArrivalsInAnUnsurveyedVillageWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	dbtest.LoadRealRegion(t, db, 20000, 1)
	m, err := risk.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	empty := map[string]bool{}
	rows, err := db.Pool.Query(ctx, `SELECT code FROM area_public WHERE level = 'desa' AND status = 'no_data'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		rows.Scan(&c)
		empty[c] = true
	}
	rows.Close()
	dir := dbtest.ExtraSurvey(t, db, 3000, 7)
	dbtest.ImportSurveyFiles(t, db, filepath.Join(dir, demo.HouseholdsFile), filepath.Join(dir, demo.ChildrenFile))
	var arrived []string
	rows, err = db.Pool.Query(ctx, `SELECT village_code FROM household GROUP BY village_code HAVING count(*) < $1`, m.Publication.ChangeMinHouseholds)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		rows.Scan(&c)
		if empty[c] {
			arrived = append(arrived, c)
		}
	}
	rows.Close()
	if len(arrived) == 0 {
		t.Fatal("no unsurveyed village got a few households: the test does not test anything (change the seed or size)")
	}
	if problems, err := db.DisclosureCheck(ctx, m); err != nil || len(problems) > 0 {
		t.Errorf("disclosure check after the import, before scoring: %v %v", err, problems)
	}
	if _, err := db.Score(ctx, m, 0); err != nil {
		t.Fatal(err)
	}
	if problems, err := db.DisclosureCheck(ctx, m); err != nil || len(problems) > 0 {
		t.Errorf("disclosure check after scoring: %v %v", err, problems)
	}
	for _, c := range arrived {
		var status string
		if err := db.Pool.QueryRow(ctx, `SELECT status FROM area_public WHERE level = 'desa' AND code = $1`, c).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != "no_data" {
			t.Errorf("desa %s: %s after a few late households, want no_data until a batch", c, status)
		}
	}
	t.Logf("%d unsurveyed villages got 1-%d households after the round was published", len(arrived), m.Publication.ChangeMinHouseholds-1)
}
