package postgres_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/demo"
)

// TestScoreOnlyChangedKabupaten checks the scoring run that re-scores only
// the kabupaten whose data changed (migration 024): after a change to a
// household and a child in one kabupaten and an erasure in another, the
// run classifies and scores only those two kabupaten, leaves every row of
// the third as it was (the same row version), and ends with exactly the
// classes, scores, published figures and release bases that scoring every
// household again gives. A run after an import scores the kabupaten the
// households arrived in. A run with nothing changed scores nobody; after a
// run that recorded no fingerprint (an older riskmap), or a change to the
// villages, a run scores everybody.
func TestScoreOnlyChangedKabupaten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	dbtest.LoadRealRegion(t, db, 3000, 17)
	m := defaultModel(t)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := db.Pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	// Nothing changed since the run that loaded the region.
	run, err := db.Score(ctx, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Full || len(run.Rescored) != 0 {
		t.Fatalf("nothing changed, yet the run scored: full %v, kabupaten %v", run.Full, run.Rescored)
	}
	// kabupaten lists the kabupaten of the households where selects (h).
	kabupaten := func(where string) []string {
		t.Helper()
		rows, err := db.Pool.Query(ctx, `SELECT DISTINCT v.kabupaten_code FROM household h JOIN village v ON v.code = h.village_code `+where+` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	kabs := kabupaten("")
	if len(kabs) < 3 {
		t.Fatalf("households in %d kabupaten, want 3", len(kabs))
	}
	changed, erased, kept := kabs[0], kabs[1], kabs[2]
	// In the first kabupaten a household's answers change, a child starts
	// working long hours, another child is deleted and a household moves;
	// in the second a household is erased.
	exec(`UPDATE household SET poverty_programmes = '{pkh}', single_parent = true
		WHERE id = (SELECT min(h.id) FROM household h JOIN village v ON v.code = h.village_code WHERE v.kabupaten_code = $1)`, changed)
	exec(`UPDATE child SET works = true, work_hours_week = 30, work_hours_day = 6, age = 14
		WHERE (household_id, ordinal) = (SELECT c.household_id, min(c.ordinal) FROM child c JOIN household h ON h.id = c.household_id
			JOIN village v ON v.code = h.village_code WHERE v.kabupaten_code = $1 GROUP BY c.household_id ORDER BY c.household_id DESC LIMIT 1)`, changed)
	exec(`DELETE FROM child WHERE (household_id, ordinal) = (SELECT c.household_id, max(c.ordinal) FROM child c JOIN household h ON h.id = c.household_id
			JOIN village v ON v.code = h.village_code WHERE v.kabupaten_code = $1 GROUP BY c.household_id ORDER BY c.household_id LIMIT 1 OFFSET 5)`, changed)
	// A household moves 300 m (its nearest tobacco field with it).
	exec(`UPDATE household SET geom = ST_Translate(geom, 0.003, 0)
		WHERE id = (SELECT h.id FROM household h JOIN village v ON v.code = h.village_code WHERE v.kabupaten_code = $1 ORDER BY h.id LIMIT 1 OFFSET 3)`, changed)
	var uuid string
	if err := db.Pool.QueryRow(ctx, `SELECT h.survey_uuid FROM household h JOIN village v ON v.code = h.village_code
		WHERE v.kabupaten_code = $1 ORDER BY h.id LIMIT 1`, erased).Scan(&uuid); err != nil {
		t.Fatal(err)
	}
	exec(`SELECT erase_household($1, 'test', 'a request to erase', 'request')`, uuid)
	// The row versions of the kabupaten nobody changed.
	keptRows := `SELECT string_agg(s.household_id || ':' || s.xmin::text, ',' ORDER BY s.household_id)
		FROM household_score s JOIN village v ON v.code = s.village_code WHERE v.kabupaten_code = $1`
	var before string
	if err := db.Pool.QueryRow(ctx, keptRows, kept).Scan(&before); err != nil {
		t.Fatal(err)
	}
	run, err = db.Score(ctx, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{changed, erased}; run.Full || !slices.Equal(run.Rescored, want) {
		t.Fatalf("the run scored full %v, kabupaten %v; want only %v", run.Full, run.Rescored, want)
	}
	var after string
	if err := db.Pool.QueryRow(ctx, keptRows, kept).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if before == "" || after != before {
		t.Errorf("the scores of kabupaten %s, which nobody changed, were written again", kept)
	}
	if n := count(`SELECT count(*) FROM household_score s WHERE NOT EXISTS (SELECT 1 FROM household h WHERE h.id = s.household_id)`); n != 0 {
		t.Errorf("%d scores of households no longer there (the erased one)", n)
	}
	// What the run left, against scoring every household again.
	tables := map[string]string{
		"child_class":     `SELECT household_id, ordinal, classification, reason FROM child_class`,
		"household_score": `SELECT * FROM household_score`,
		"area_public":     `SELECT * FROM area_public`,
		"release_basis":   `SELECT * FROM release_basis`,
		"release_member":  `SELECT * FROM release_member`,
	}
	for name, sql := range tables {
		exec(`CREATE TABLE snap_` + name + ` AS ` + sql)
	}
	exec(`INSERT INTO score_dirty VALUES ('*', nextval('score_dirty_seq'))`)
	if run, err = db.Score(ctx, m, 0); err != nil {
		t.Fatal(err)
	}
	if !run.Full {
		t.Fatal("a note for every household did not make the run full")
	}
	for name, sql := range tables {
		if n := count(`SELECT count(*) FROM ((` + sql + ` EXCEPT ALL SELECT * FROM snap_` + name + `) UNION ALL (SELECT * FROM snap_` + name + ` EXCEPT ALL ` + sql + `)) d`); n != 0 {
			t.Errorf("%s: %d rows differ between the run that scored two kabupaten and the run that scored everyone", name, n)
		}
		if count(`SELECT count(*) FROM snap_`+name) == 0 {
			t.Errorf("%s: empty, nothing compared", name)
		}
	}
	// Households arriving by import: their kabupaten are scored, and
	// every household has a score after the run.
	dir := dbtest.ExtraSurvey(t, db, 300, 29)
	dbtest.ImportSurveyFiles(t, db, filepath.Join(dir, demo.HouseholdsFile), filepath.Join(dir, demo.ChildrenFile))
	arrived := kabupaten(`WHERE NOT EXISTS (SELECT 1 FROM household_score s WHERE s.household_id = h.id)`)
	if len(arrived) == 0 {
		t.Fatal("the import brought no households to score")
	}
	if run, err = db.Score(ctx, m, 0); err != nil {
		t.Fatal(err)
	}
	if run.Full || !slices.Equal(run.Rescored, arrived) {
		t.Errorf("after an import into %v the run scored full %v, kabupaten %v", arrived, run.Full, run.Rescored)
	}
	if n := count(`SELECT count(*) FROM household h WHERE NOT EXISTS (SELECT 1 FROM household_score s WHERE s.household_id = h.id)`); n != 0 {
		t.Errorf("%d households without a score after the run", n)
	}
	// A run by an older riskmap recorded no fingerprint (and kept no
	// counts with the scores): the next run scores everybody.
	exec(`UPDATE score_run SET scope_fingerprint = NULL WHERE id = (SELECT max(id) FROM score_run)`)
	if run, err = db.Score(ctx, m, 0); err != nil {
		t.Fatal(err)
	}
	if !run.Full {
		t.Errorf("after a run with no fingerprint the run scored only %v", run.Rescored)
	}
	// A change to the villages concerns every household.
	exec(`UPDATE village SET name = name WHERE code = (SELECT min(code) FROM village)`)
	if run, err = db.Score(ctx, m, 0); err != nil {
		t.Fatal(err)
	}
	if !run.Full {
		t.Errorf("after a change to the villages the run scored only %v", run.Rescored)
	}
}
