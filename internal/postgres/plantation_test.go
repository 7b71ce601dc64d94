package postgres_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

func TestImportPlantationsAndCalendar(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	demoVillages(t, db)
	dir := filepath.Join(dbtest.RepoRoot(t), "geodata", "demo")

	f, err := os.Open(filepath.Join(dir, "plantations.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fields, problems, err := ingest.ReadPlantations(f, "plantations.geojson")
	if err != nil || len(problems) != 0 {
		t.Fatalf("read: %v %v", err, problems)
	}
	for round, want := range []struct{ inserted, updated int }{{250, 0}, {0, 250}} {
		sum, err := db.ImportPlantations(ctx, "plantations.geojson", fields, nil, postgres.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Inserted != want.inserted || sum.Updated != want.updated {
			t.Errorf("import %d: inserted %d, updated %d; want %d, %d", round+1, sum.Inserted, sum.Updated, want.inserted, want.updated)
		}
	}
	var n, located, inside int
	err = db.Pool.QueryRow(ctx, `SELECT count(*), count(p.village_code),
		count(*) FILTER (WHERE ST_Covers(v.geom, ST_PointOnSurface(p.geom)))
		FROM plantation p LEFT JOIN village v ON v.code = p.village_code`).Scan(&n, &located, &inside)
	if err != nil {
		t.Fatal(err)
	}
	if n != 250 || located != 250 || inside != 250 {
		t.Errorf("%d fields, %d with a village, %d inside it; want 250 each", n, located, inside)
	}

	cf, err := os.Open(filepath.Join(dir, "calendar.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	entries, problems, err := ingest.ReadCalendar(cf, "calendar.csv")
	if err != nil || len(problems) != 0 {
		t.Fatalf("read calendar: %v %v", err, problems)
	}
	if _, err := db.ImportCalendar(ctx, "calendar.csv", entries, nil, postgres.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	var peak float64
	var peakMonths string
	err = db.Pool.QueryRow(ctx, `SELECT max(labour_index), string_agg(month::text, ',' ORDER BY month)
		FILTER (WHERE labour_index = 1) FROM labour_calendar WHERE variety = 'Paiton Voor-Oogst'`).Scan(&peak, &peakMonths)
	if err != nil {
		t.Fatal(err)
	}
	if peak != 1 || peakMonths != "8,9" {
		t.Errorf("Paiton Voor-Oogst peaks at %g in months %s, want 1 in 8,9 (August-September)", peak, peakMonths)
	}
}

// TestFailedBoundaryImportChangesNothing: a duplicate code rejects the file;
// the villages already loaded stay exactly as they were.
func TestFailedBoundaryImportChangesNothing(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	demoVillages(t, db)
	state := func() string {
		var s string
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) || md5(string_agg(code || name || ST_AsText(geom), ',' ORDER BY code)) FROM village`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()
	bad := `{"type":"FeatureCollection","features":[
		{"type":"Feature","properties":{"code":"35.13.13.2003","name":"Renamed"},"geometry":{"type":"Polygon","coordinates":[[[113.4,-7.8],[113.5,-7.8],[113.5,-7.7],[113.4,-7.8]]]}},
		{"type":"Feature","properties":{"code":"35.13.13.2003","name":"Twice"},"geometry":{"type":"Polygon","coordinates":[[[113.4,-7.8],[113.5,-7.8],[113.5,-7.7],[113.4,-7.8]]]}}]}`
	areas, problems, err := ingest.ReadBoundaries(strings.NewReader(bad), "bad.geojson", ingest.BoundaryOptions{Level: "desa"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ImportBoundaries(ctx, "desa", "bad.geojson", areas, problems, postgres.ImportOptions{})
	var ps ingest.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].Error(), "bad.geojson: feature 1 (35.13.13.2003): code: duplicate code: feature 0") {
		t.Fatalf("import = %v, want the duplicate reported", err)
	}
	if after := state(); after != before {
		t.Error("a rejected import changed the villages")
	}
}

func TestOpenRingIsClosedAndListed(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	in := `{"type":"FeatureCollection","features":[
		{"type":"Feature","properties":{"code":"35.13.13.9999","name":"Open"},"geometry":{"type":"Polygon","coordinates":[[[113.4,-7.8],[113.5,-7.8],[113.5,-7.7],[113.4,-7.7]]]}},
		{"type":"Feature","properties":{"code":"35.13.13.9998","name":"Bowtie"},"geometry":{"type":"Polygon","coordinates":[[[113.4,-7.8],[113.5,-7.7],[113.5,-7.8],[113.4,-7.7],[113.4,-7.8]]]}}]}`
	areas, problems, err := ingest.ReadBoundaries(strings.NewReader(in), "open.geojson", ingest.BoundaryOptions{Level: "desa"})
	if err != nil || len(problems) != 0 {
		t.Fatal(err, problems)
	}
	sum, err := db.ImportBoundaries(context.Background(), "desa", "open.geojson", areas, nil, postgres.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Repaired) != 2 || sum.Repaired[0].Reason != "ring closed" || !strings.Contains(sum.Repaired[1].Reason, "Self-intersection") {
		t.Errorf("repaired = %+v, want the closed ring and the self-intersection listed", sum.Repaired)
	}
	var valid bool
	if err := db.Pool.QueryRow(context.Background(), `SELECT bool_and(ST_IsValid(geom) AND repair_note IS NOT NULL) FROM village`).Scan(&valid); err != nil || !valid {
		t.Errorf("repaired villages valid and noted = %v, %v", valid, err)
	}
}

// TestInstitutionsAndFollowUpsRejectUnknownKeys: rows naming a village or a
// household that is not in the database are reported, the others load.
func TestInstitutionsAndFollowUpsRejectUnknownKeys(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	demoVillages(t, db)
	ins, ps, err := ingest.ReadInstitutions(strings.NewReader("village_code,kind,established\n35.13.13.2003,perdes,2019-05-01\n35.13.13.7777,forum_anak,\n"), "inst.csv")
	if err != nil || len(ps) != 0 {
		t.Fatal(err, ps)
	}
	sum, err := db.ImportInstitutions(ctx, "inst.csv", ins, nil, postgres.ImportOptions{Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Inserted != 1 || len(sum.Rejected) != 1 || sum.Rejected[0].Row != 3 || !strings.Contains(sum.Rejected[0].Reason, "no such village") || sum.Rejected[0].Raw == "" {
		t.Errorf("institutions: %d inserted, rejected %+v", sum.Inserted, sum.Rejected)
	}
	if _, err := importSurvey(t, db, "testdata/kobo_households.csv", "testdata/kobo_children.csv", true); err != nil {
		t.Fatal(err)
	}
	fus, ps, err := ingest.ReadFollowUps(strings.NewReader("survey_uuid,started_on,ended_on\nk-0001,2026-09-01,\nk-9999,2026-09-01,\nk-0004,2026-01-01,2026-07-01\n"), "fu.csv")
	if err != nil || len(ps) != 0 {
		t.Fatal(err, ps)
	}
	if _, err := db.ImportFollowUps(ctx, "fu.csv", fus, nil, postgres.ImportOptions{}); err == nil {
		t.Error("an unknown uuid did not stop the import without --reject-file")
	}
	sum, err = db.ImportFollowUps(ctx, "fu.csv", fus, nil, postgres.ImportOptions{Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Inserted != 2 || len(sum.Rejected) != 1 || sum.Rejected[0].Code != "k-9999" {
		t.Errorf("follow-ups: %d inserted, rejected %+v", sum.Inserted, sum.Rejected)
	}
}
