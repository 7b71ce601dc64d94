package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

func TestMigrateTwiceIsANoOp(t *testing.T) {
	db := dbtest.New(t) // migrated once already, from the template
	ctx := context.Background()
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("second migrate applied %v, want nothing", applied)
	}
	cur, latest, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur != latest || cur == 0 {
		t.Errorf("schema version %d, latest %d", cur, latest)
	}
}

func TestMigrateFreshDatabase(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`); err != nil {
		t.Fatal(err)
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := postgres.Migrations()
	if len(applied) != len(ms) {
		t.Errorf("applied %v, want all %d migrations", applied, len(ms))
	}
	if again, err := db.Migrate(ctx); err != nil || len(again) != 0 {
		t.Errorf("migrate again = %v, %v; want nothing applied", again, err)
	}
}

func loadBoundaries(t *testing.T, db *postgres.DB, level, file string) ingest.Summary {
	t.Helper()
	areas, problems := readBoundaries(t, level, file)
	sum, err := db.ImportBoundaries(context.Background(), level, file, areas, problems, postgres.ImportOptions{})
	if err != nil {
		t.Fatalf("import %s: %v", file, err)
	}
	return sum
}

func TestImportSharedGeodata(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := dbtest.SharedGeodata(t)
	cases := []struct {
		level, file, table string
		want               int
		repaired           []string
	}{
		{"kabupaten", "jatim-kabupaten.geojson", "kabupaten", 3, []string{"35.09"}},
		{"kecamatan", "jatim-kecamatan.geojson", "kecamatan", 76, []string{"35.09.04", "35.09.08"}},
		{"desa", "jatim-desa.geojson", "village", 783, []string{"35.08.05.2013", "35.09.04.2001"}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.level, func(t *testing.T) {
			sum := loadBoundaries(t, db, tc.level, filepath.Join(dir, tc.file))
			if sum.Inserted != tc.want || sum.Updated != 0 || len(sum.Rejected) != 0 {
				t.Errorf("inserted %d, updated %d, rejected %d; want %d, 0, 0", sum.Inserted, sum.Updated, len(sum.Rejected), tc.want)
			}
			var got []string
			for _, r := range sum.Repaired {
				got = append(got, r.Code)
				if r.Reason == "" {
					t.Errorf("repair of %s has no reason", r.Code)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.repaired, " ") {
				t.Errorf("repaired %v, want %v", got, tc.repaired)
			}
			var n, invalid, noted int
			err := db.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid(geom)),
				count(*) FILTER (WHERE repair_note IS NOT NULL) FROM `+tc.table).Scan(&n, &invalid, &noted)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.want || invalid != 0 || noted != len(tc.repaired) {
				t.Errorf("%s: %d rows, %d invalid, %d with repair notes; want %d, 0, %d", tc.table, n, invalid, noted, tc.want, len(tc.repaired))
			}
			again := loadBoundaries(t, db, tc.level, filepath.Join(dir, tc.file))
			if again.Inserted != 0 || again.Updated != tc.want {
				t.Errorf("re-import: inserted %d, updated %d; want 0, %d", again.Inserted, again.Updated, tc.want)
			}
		})
	}
	var parents int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM village v JOIN kecamatan k ON k.code = v.kecamatan_code`).Scan(&parents); err != nil {
		t.Fatal(err)
	}
	if parents != 783 {
		t.Errorf("villages whose kecamatan is loaded = %d, want 783", parents)
	}
}

// demoVillages loads the committed demo region's villages: the survey
// fixtures lie in them.
func demoVillages(t *testing.T, db *postgres.DB) {
	t.Helper()
	loadBoundaries(t, db, "desa", filepath.Join(dbtest.RepoRoot(t), "geodata", "demo", "villages.geojson"))
}

func importSurvey(t *testing.T, db *postgres.DB, hh, children string, partial bool) (ingest.Summary, error) {
	t.Helper()
	hf, err := os.Open(hh)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	in := postgres.SurveyImport{HouseholdFile: hh, ChildFile: children, MaxVillageDistance: 1000, Identity: dbtest.DefaultIdentity(t)}
	if in.Households, err = ingest.NewHouseholdReader(hf, hh); err != nil {
		t.Fatal(err)
	}
	if children != "" {
		cf, err := os.Open(children)
		if err != nil {
			t.Fatal(err)
		}
		defer cf.Close()
		if in.Children, err = ingest.NewChildReader(cf, children, in.Households); err != nil {
			t.Fatal(err)
		}
	}
	return db.ImportSurvey(context.Background(), in, postgres.ImportOptions{Partial: partial})
}

// tableState fingerprints the survey tables, to prove a failed import changed nothing.
func tableState(t *testing.T, db *postgres.DB) string {
	t.Helper()
	var s string
	err := db.Pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) || ':' || coalesce(md5(string_agg(h::text, ',' ORDER BY id)), '') FROM household h) || '|' ||
		(SELECT count(*) || ':' || coalesce(md5(string_agg(c::text, ',' ORDER BY household_id, ordinal)), '') FROM child c) || '|' ||
		(SELECT count(*) FROM import_run)`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type wantProblem struct {
	file   string
	row    int
	column string
	reason string // a part of the reason
}

func checkProblems(t *testing.T, got ingest.Problems, want []wantProblem) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(got), len(want), got)
	}
	for _, w := range want {
		found := false
		for _, p := range got {
			if filepath.Base(p.File) == w.file && p.Row == w.row && p.Column == w.column && strings.Contains(p.Reason, w.reason) {
				found = true
				if p.Raw == "" && p.Offset == 0 {
					t.Errorf("problem %s has neither the raw row nor its offset", p.Error())
				}
			}
		}
		if !found {
			t.Errorf("missing problem %s row %d column %s: %q\ngot:\n%v", w.file, w.row, w.column, w.reason, got)
		}
	}
}

func TestImportSurveyFixtures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, households, children   string
		wantHouseholds, wantChildren int // loaded with --reject-file
		problems                     []wantProblem
	}{
		{
			name: "kobo", households: "kobo_households.csv", children: "kobo_children.csv",
			wantHouseholds: 2, wantChildren: 3,
			problems: []wantProblem{
				{"kobo_households.csv", 3, "_household/gps_latitude", "missing GPS position"},
				{"kobo_households.csv", 4, "gps", "outside every village"},
				{"kobo_households.csv", 6, "gps", "from the reported village 35.13.13.2003 (more than 1000 m)"},
				{"kobo_children.csv", 3, "children/age", `"abc" is not a whole number`},
				{"kobo_children.csv", 5, "_parent_index", `"99" matches no household`},
				{"kobo_children.csv", 6, "_parent_index", "its household (testdata/kobo_households.csv row 3) was rejected"},
				{"kobo_children.csv", 7, "_parent_index", "its household (testdata/kobo_households.csv row 4) was rejected"},
			},
		},
		{
			name: "odk", households: "odk_households.csv", children: "odk_children.csv",
			wantHouseholds: 2, wantChildren: 3,
			problems: []wantProblem{
				{"odk_households.csv", 3, "household-gps-Latitude", "missing GPS position"},
				{"odk_households.csv", 4, "gps", "outside every village"},
				{"odk_children.csv", 3, "children-age", `"abc" is not a whole number`},
				{"odk_children.csv", 4, "PARENT_KEY", `"uuid:o-0404" matches no household`},
				{"odk_children.csv", 7, "PARENT_KEY", "its household (testdata/odk_households.csv row 4) was rejected"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := dbtest.New(t)
			demoVillages(t, db)
			hh, ch := filepath.Join("testdata", tc.households), filepath.Join("testdata", tc.children)
			before := tableState(t, db)

			// Without --reject-file: nothing changes, every problem is reported.
			_, err := importSurvey(t, db, hh, ch, false)
			var ps ingest.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("import = %v, want the rejected rows as the error", err)
			}
			checkProblems(t, ps, tc.problems)
			if after := tableState(t, db); after != before {
				t.Errorf("a failed import changed the tables: %s -> %s", before, after)
			}

			// With --reject-file: the good rows load.
			sum, err := importSurvey(t, db, hh, ch, true)
			if err != nil {
				t.Fatal(err)
			}
			checkProblems(t, sum.Rejected, tc.problems)
			if sum.Inserted != tc.wantHouseholds || sum.Children.Inserted != tc.wantChildren {
				t.Errorf("loaded %d households, %d children; want %d, %d", sum.Inserted, sum.Children.Inserted, tc.wantHouseholds, tc.wantChildren)
			}

			// Re-import: updates, never duplicates.
			again, err := importSurvey(t, db, hh, ch, true)
			if err != nil {
				t.Fatal(err)
			}
			if again.Inserted != 0 || again.Updated != tc.wantHouseholds || again.Children.Inserted != tc.wantChildren || again.Children.Replaced != tc.wantChildren {
				t.Errorf("re-import: %d inserted, %d updated, children %d inserted %d replaced; want 0, %d, %d, %d",
					again.Inserted, again.Updated, again.Children.Inserted, again.Children.Replaced, tc.wantHouseholds, tc.wantChildren, tc.wantChildren)
			}
			var households, children int
			db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM household), (SELECT count(*) FROM child)`).Scan(&households, &children)
			if households != tc.wantHouseholds || children != tc.wantChildren {
				t.Errorf("after re-import: %d households, %d children; want %d, %d", households, children, tc.wantHouseholds, tc.wantChildren)
			}
		})
	}
}

func TestSurveyVillageFromPoint(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	demoVillages(t, db)
	if _, err := importSurvey(t, db, "testdata/kobo_households.csv", "testdata/kobo_children.csv", true); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Pool.Query(context.Background(), `SELECT survey_uuid, village_code, ST_Covers(v.geom, h.geom)
		FROM household h JOIN village v ON v.code = h.village_code ORDER BY survey_uuid`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var uuid, code string
		var covers bool
		if err := rows.Scan(&uuid, &code, &covers); err != nil {
			t.Fatal(err)
		}
		if !covers {
			t.Errorf("household %s is not inside its village %s", uuid, code)
		}
		got[uuid] = code
	}
	want := map[string]string{"k-0001": "35.13.13.2003", "k-0004": "35.13.10.2010"}
	for uuid, code := range want {
		if got[uuid] != code {
			t.Errorf("household %s in village %q, want %s", uuid, got[uuid], code)
		}
	}
}

// TestServeRoleCannotChangeAnything: the role the HTTP service works as
// reads and appends to the audit log, and can do nothing else.
func TestServeRoleCannotChangeAnything(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	db, err := postgres.OpenAs(context.Background(), url, postgres.ServeRole, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	// It is its own login, not a SET ROLE: RESET ROLE gives nothing back.
	var user, session string
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "RESET ROLE"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT current_user, session_user").Scan(&user, &session); err != nil {
		t.Fatal(err)
	}
	conn.Release()
	if user != postgres.ServeRole || session != postgres.ServeRole {
		t.Errorf("serve works as %s (session %s), want %s for both", user, session, postgres.ServeRole)
	}
	for _, sql := range []string{
		"RESET ROLE; DELETE FROM household", "SET ROLE postgres", "SELECT secret FROM mask_secret", "UPDATE audit_head SET hash = ''",
		"CREATE TABLE intruder (x int)", "DROP TABLE household CASCADE", "ALTER TABLE village ADD COLUMN x int",
		"DELETE FROM household", "UPDATE village SET name = 'x'", "INSERT INTO api_key (name, role, key_hash) VALUES ('x', 'admin', 'x')",
		"DELETE FROM audit_log", "TRUNCATE audit_log", "UPDATE api_key SET role = 'admin'",
	} {
		if _, err := db.Pool.Exec(ctx, sql); err == nil {
			t.Errorf("the serve role may %s", sql)
		}
	}
	var n int
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM village").Scan(&n); err != nil {
		t.Errorf("the serve role cannot read: %v", err)
	}
	if err := db.Audit(ctx, risk.Public, "/test", nil, 0); err != nil {
		t.Errorf("the serve role cannot append to the audit log: %v", err)
	}
}

// TestAuditLogIsTamperEvident: not even the owner can truncate the audit
// log, and a row changed or removed behind the triggers' back breaks its
// hash chain, which VerifyAudit finds.
func TestAuditLogIsTamperEvident(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := db.Audit(ctx, risk.Public, fmt.Sprintf("/collections/households/items?page=%d", i), map[string][]string{"i": {fmt.Sprint(i)}}, i); err != nil {
			t.Fatal(err)
		}
	}
	c, err := db.VerifyAudit(ctx, "")
	if err != nil || c.Broken != "" || c.Rows != 5 {
		t.Fatalf("a fresh log: %+v, %v", c, err)
	}
	head := fmt.Sprintf("%x", c.Head)
	if _, err := db.Pool.Exec(ctx, "TRUNCATE audit_log"); err == nil {
		t.Fatal("the owner truncated the audit log")
	}
	if c, _ := db.VerifyAudit(ctx, head); c.Broken != "" {
		t.Fatalf("the log with its own head: %s", c.Broken)
	}
	for _, tc := range []struct{ name, sql, want string }{
		{"changed", "UPDATE audit_log SET records = 0 WHERE id = (SELECT min(id) + 2 FROM audit_log)", "was changed"},
		{"removed", "DELETE FROM audit_log WHERE id = (SELECT min(id) + 1 FROM audit_log)", "removed or reordered"},
		{"cut", "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)", "removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := db.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			// The owner can switch triggers off; the chain still tells.
			if _, err := tx.Exec(ctx, "ALTER TABLE audit_log DISABLE TRIGGER USER; "+tc.sql+"; ALTER TABLE audit_log ENABLE TRIGGER USER"); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			c, err := db.VerifyAudit(ctx, head)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(c.Broken, tc.want) && !strings.Contains(c.Broken, "no longer in the chain") {
				t.Errorf("after a row was %s: %q, want it found", tc.name, c.Broken)
			}
		})
	}
}

// TestSurveyImportNeedsTheIdentityRule: storage does not choose the rule
// that matches households to earlier rounds; an import without one is
// refused before anything is read.
func TestSurveyImportNeedsTheIdentityRule(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	_, err := db.ImportSurvey(context.Background(), postgres.SurveyImport{HouseholdFile: "h.csv", MaxVillageDistance: 1000}, postgres.ImportOptions{})
	if risk.ErrorCode(err) != risk.EINVALID || !strings.Contains(err.Error(), "identity") {
		t.Errorf("an import without the identity rule: %v", err)
	}
}

// readBoundaries reads a boundary file of level.
func readBoundaries(t *testing.T, level, file string) ([]ingest.BoundaryFeature, []ingest.Problem) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	areas, problems, err := ingest.ReadBoundaries(f, file, ingest.BoundaryOptions{Level: level})
	if err != nil {
		t.Fatal(err)
	}
	return areas, problems
}
