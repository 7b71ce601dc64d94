package postgres_test

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// householdKeyTables lists, independently of the code under test, every
// base table with a column that can hold a household's key or uuid.
func householdKeyTables(t *testing.T, db *postgres.DB) map[string]string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `
		SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables tb USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND tb.table_type = 'BASE TABLE'
		  AND (c.column_name IN ('household_id', 'survey_uuid') OR (c.table_name LIKE 'household%' AND c.column_name = 'id'))`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var table, col string
		rows.Scan(&table, &col)
		out[table] = col
	}
	return out
}

// aHousehold picks a demo household with children, a score, a masked point
// and proximity, and gives it a follow-up.
func aHousehold(t *testing.T, db *postgres.DB) (id int64, uuid, village string) {
	t.Helper()
	ctx := context.Background()
	err := db.Pool.QueryRow(ctx, `
		SELECT h.id, h.survey_uuid, h.village_code FROM household h
		WHERE EXISTS (SELECT 1 FROM child c WHERE c.household_id = h.id)
		  AND EXISTS (SELECT 1 FROM household_score s WHERE s.household_id = h.id)
		  AND EXISTS (SELECT 1 FROM household_mask m WHERE m.household_id = h.id AND m.shown)
		  AND EXISTS (SELECT 1 FROM household_near n WHERE n.household_id = h.id)
		ORDER BY h.survey_uuid LIMIT 1`).Scan(&id, &uuid, &village)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO follow_up (household_id, started_on, ended_on) VALUES ($1, '2026-04-01', '2026-05-01')`, id); err != nil {
		t.Fatal(err)
	}
	return id, uuid, village
}

func TestEraseHouseholdEverywhere(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.NewDemo(t)
	ctx := context.Background()
	id, uuid, village := aHousehold(t, db)
	var before int
	if err := db.Pool.QueryRow(ctx, `SELECT households FROM area_score WHERE level = 'desa' AND code = $1`, village).Scan(&before); err != nil {
		t.Fatal(err)
	}

	if _, err := db.EraseHousehold(ctx, postgres.Erasure{UUID: uuid, By: "test", Reason: " "}); risk.ErrorCode(err) != risk.EINVALID {
		t.Errorf("erase without a reason: %v, want invalid", err)
	}
	got, err := db.EraseHousehold(ctx, postgres.Erasure{UUID: uuid, By: "kader Besuk", Reason: "consent withdrawn by phone"})
	if err != nil || got != village {
		t.Fatalf("erase = %q, %v", got, err)
	}
	if _, err := db.EraseHousehold(ctx, postgres.Erasure{UUID: uuid, By: "x", Reason: "again"}); risk.ErrorCode(err) != risk.ENOTFOUND {
		t.Errorf("erasing twice: %v, want not found", err)
	}

	// Not a row left anywhere: every table that can hold the key or the uuid.
	tables := householdKeyTables(t, db)
	for _, want := range []string{"household", "child", "child_class", "household_score", "household_mask", "household_near", "follow_up"} {
		if _, ok := tables[want]; !ok {
			t.Errorf("table %s not found by the catalogue query: %v", want, tables)
		}
	}
	for table, col := range tables {
		var n int
		arg := any(id)
		if col == "survey_uuid" {
			arg = uuid
		}
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE `+col+` = $1`, arg).Scan(&n); err != nil {
			t.Fatalf("%s.%s: %v", table, col, err)
		}
		if n != 0 {
			t.Errorf("%d row(s) of the erased household left in %s", n, table)
		}
	}
	// What is left names no uuid, and is in the tamper-evident log.
	var leaks, records, audit, due int
	err = db.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM erasure WHERE to_jsonb(erasure)::text LIKE '%' || $1 || '%'),
		(SELECT count(*) FROM erasure WHERE reason = 'consent withdrawn by phone' AND erased_by = 'kader Besuk' AND village_code = $2),
		(SELECT count(*) FROM audit_log WHERE route = 'erase household' AND params::text NOT LIKE '%' || $1 || '%'),
		(SELECT coalesce(sum(erasures), 0) FROM publication_due)`, uuid, village).Scan(&leaks, &records, &audit, &due)
	if err != nil {
		t.Fatal(err)
	}
	if leaks != 0 || records != 1 || audit != 1 || due != 1 {
		t.Errorf("erasure record: %d naming the uuid, %d records, %d audit entries, publication due %d; want 0, 1, 1, 1", leaks, records, audit, due)
	}
	if c, err := db.VerifyAudit(ctx, ""); err != nil || c.Broken != "" {
		t.Errorf("audit chain after erasure: %v %s", err, c.Broken)
	}

	// Importing the same export again does not bring it back.
	dir := filepath.Join(dbtest.RepoRoot(t), "geodata", "demo")
	sum, err := importExport(t, db, filepath.Join(dir, "households.csv"), ingest.SurveyOptions{Children: filepath.Join(dir, "children.csv")}, true)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, p := range sum.Rejected {
		if p.Code == uuid && strings.Contains(p.Reason, "was erased on") && strings.Contains(p.Reason, "delete it on the server") {
			refused++
		}
	}
	if refused != 1 || sum.Inserted != 0 {
		t.Errorf("re-import: %d refusals of the erased submission, %d inserted; want 1, 0\n%v", refused, sum.Inserted, sum.Rejected)
	}
	var n int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM household WHERE survey_uuid = $1`, uuid).Scan(&n)
	if n != 0 {
		t.Error("the re-import restored the erased household")
	}

	// The next scoring run stops counting it, and says so.
	m, err := risk.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	run, err := db.Score(ctx, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	var after int
	db.Pool.QueryRow(ctx, `SELECT households FROM area_score WHERE level = 'desa' AND code = $1`, village).Scan(&after)
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM publication_due`).Scan(&due)
	if after != before-1 || run.Erasures != 1 || due != 0 {
		t.Errorf("village %s counted %d households, then %d after scoring; run reports %d erasures, %d still due; want %d, 1, 0",
			village, before, after, run.Erasures, due, before-1)
	}
}

func TestExportHousehold(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.NewDemo(t)
	ctx := context.Background()
	id, uuid, _ := aHousehold(t, db)
	rec, err := db.ExportHousehold(ctx, uuid)
	if err != nil {
		t.Fatal(err)
	}
	// Every table holding rows of this household is in the export, with all of them.
	for table, col := range householdKeyTables(t, db) {
		if col != "household_id" {
			continue
		}
		var n int
		db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE household_id = $1`, id).Scan(&n)
		if len(rec.Tables[table]) != n {
			t.Errorf("%s: %d row(s) exported, %d held", table, len(rec.Tables[table]), n)
		}
		for _, raw := range rec.Tables[table] {
			var row map[string]any
			json.Unmarshal(raw, &row)
			if row["household_id"] != float64(id) {
				t.Errorf("%s: exported a row of household %v", table, row["household_id"])
			}
		}
	}
	if len(rec.Tables["child"]) == 0 || len(rec.Tables["follow_up"]) != 1 {
		t.Errorf("export has %d children and %d follow-ups", len(rec.Tables["child"]), len(rec.Tables["follow_up"]))
	}
	// And nothing of any other household.
	b, _ := json.Marshal(rec)
	rows, _ := db.Pool.Query(ctx, `SELECT survey_uuid FROM household WHERE survey_uuid <> $1`, uuid)
	others, _ := collectStrings(rows)
	for _, o := range others {
		if strings.Contains(string(b), o) {
			t.Fatalf("the export of %s holds another household's uuid %s", uuid, o)
		}
	}
	if len(others) < 100 || !strings.Contains(string(b), uuid) {
		t.Errorf("checked against %d other households", len(others))
	}
	if _, err := db.ExportHousehold(ctx, "no-such-uuid"); risk.ErrorCode(err) != risk.ENOTFOUND {
		t.Errorf("export of an unknown uuid: %v", err)
	}
}

func TestRetentionDryRunEqualsApply(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.NewDemo(t)
	ctx := context.Background()
	// Three households without a case surveyed long ago; one of them is
	// under an open follow-up, another had a follow-up recently. A fourth
	// surveyed long ago has an open case: kept too.
	var old []string
	rows, _ := db.Pool.Query(ctx, `SELECT survey_uuid FROM household h
		WHERE NOT EXISTS (SELECT 1 FROM child_case k WHERE k.identity_id = h.identity_id) ORDER BY survey_uuid LIMIT 3`)
	old, _ = collectStrings(rows)
	var withCase string
	if err := db.Pool.QueryRow(ctx, `SELECT h.survey_uuid FROM household h JOIN child_case k ON k.household_id = h.id
		WHERE k.status NOT IN ('closed', 'lost') ORDER BY 1 LIMIT 1`).Scan(&withCase); err != nil {
		t.Fatalf("the demo should open cases: %v", err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE household SET submitted_at = '2019-05-01' WHERE survey_uuid = ANY($1) OR survey_uuid = $2`, old, withCase); err != nil {
		t.Fatal(err)
	}
	db.Pool.Exec(ctx, `INSERT INTO follow_up (household_id, started_on) SELECT id, '2020-01-01' FROM household WHERE survey_uuid = $1`, old[0])
	db.Pool.Exec(ctx, `INSERT INTO follow_up (household_id, started_on, ended_on) SELECT id, '2024-01-01', '2025-06-01' FROM household WHERE survey_uuid = $1`, old[1])
	asOf := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	dry, err := db.RetentionDue(ctx, 60, asOf)
	if err != nil {
		t.Fatal(err)
	}
	var due []string
	for _, d := range dry {
		due = append(due, d.SurveyUUID)
	}
	if !slices.Equal(due, []string{old[2]}) {
		t.Fatalf("due = %v, want only %s (open follow-up and recent follow-up kept)", due, old[2])
	}
	for _, d := range dry {
		if _, err := db.EraseHousehold(ctx, postgres.Erasure{UUID: d.SurveyUUID, By: "retention", Reason: "retention test", Kind: "retention"}); err != nil {
			t.Fatal(err)
		}
	}
	if again, _ := db.RetentionDue(ctx, 60, asOf); len(again) != 0 {
		t.Errorf("after apply, still due: %v", again)
	}
	var n int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM erasure WHERE kind = 'retention'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d retention erasures recorded, want 1", n)
	}
	if _, err := db.RetentionDue(ctx, 0, asOf); err == nil {
		t.Error("a retention of 0 months was accepted")
	}
}

func collectStrings(rows interface {
	Next() bool
	Scan(...any) error
	Close()
	Err() error
}) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// TestPrivateQueriesNeedAScope: a query of household-level data reads for
// a scope that was said: none, or an empty one, reads nothing; a staff
// key's areas read only them; all reads every household. Items, counts,
// pages and extents alike.
func TestPrivateQueriesNeedAScope(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.NewDemo(t)
	ctx := context.Background()
	var hh *postgres.Collection
	for _, c := range postgres.Collections() {
		if c.ID == "households" {
			hh = c
		}
	}
	var all, pakuniran int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE village_code LIKE '35.13.13.%') FROM household`).Scan(&all, &pakuniran); err != nil {
		t.Fatal(err)
	}
	if pakuniran == 0 || pakuniran == all {
		t.Fatalf("the demo has %d households, %d in Pakuniran: the test needs some in and some out", all, pakuniran)
	}
	for _, c := range []struct {
		name  string
		scope *postgres.Scope
		want  int
	}{
		{"no scope", nil, 0},
		{"an empty scope", &postgres.Scope{}, 0},
		{"a staff key's kecamatan", &postgres.Scope{Areas: []string{"35.13.13"}}, pakuniran},
		{"every area", &postgres.Scope{All: true}, all},
	} {
		q := &postgres.ItemsQuery{Collection: hh, Limit: 1 << 30, Scope: c.scope}
		n, err := db.CountItems(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var buf strings.Builder
		streamed, err := db.StreamFeatures(ctx, q, func() io.Writer { return &buf })
		if err != nil {
			t.Fatal(err)
		}
		_, hasExtent, err := db.Extent(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if n != c.want || streamed != c.want || hasExtent != (c.want > 0) {
			t.Errorf("%s: counted %d, streamed %d, extent %v; want %d", c.name, n, streamed, hasExtent, c.want)
		}
	}
}
