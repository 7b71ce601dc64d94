// Package dbtest gives tests a fresh, migrated PostGIS database of their own,
// copied from a template that is migrated once. Tests need TEST_DATABASE_URL
// (make test sets it); without it they fail, they do not skip.
package dbtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/demo"
	"github.com/kesempatan/riskmap/internal/demoload"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// lockKey serialises template creation across test packages.
const lockKey = 0x72697374657374 // "ristest"

// URL returns the URL of a new database with riskmap's schema, dropped when
// the test ends.
func URL(tb testing.TB) string {
	tb.Helper()
	admin := adminURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		tb.Fatal(err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey)

	tmpl := "riskmap_tmpl_" + schemaHash(tb)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		tb.Fatal(err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
			tb.Fatal(err)
		}
		db, err := postgres.Open(ctx, withDatabase(tb, admin, tmpl))
		if err != nil {
			tb.Fatal(err)
		}
		_, err = db.Migrate(ctx)
		db.Close()
		if err != nil {
			conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{tmpl}.Sanitize())
			tb.Fatalf("migrate template: %v", err)
		}
	}
	name := "riskmap_test_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dropDatabase(tb, admin, name) })
	return withDatabase(tb, admin, name)
}

// EmptyURL returns the URL of a new, empty database (no schema, no
// extensions), dropped when the test ends: a target for a restore.
func EmptyURL(tb testing.TB) string {
	tb.Helper()
	admin := adminURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	name := "riskmap_empty_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dropDatabase(tb, admin, name) })
	return withDatabase(tb, admin, name)
}

// New returns an open connection pool to a new database (see URL).
func New(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	return db
}

func withDatabase(tb testing.TB, raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		tb.Fatalf("TEST_DATABASE_URL must be a postgres:// URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// schemaHash names the template after the migrations, so a changed
// migration gets a new template instead of a stale one.
func schemaHash(tb testing.TB) string {
	ms, err := postgres.Migrations()
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	for _, m := range ms {
		h.Write([]byte(m.Name))
		h.Write([]byte(m.SQL))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RepoRoot returns the repository's top folder.
func RepoRoot(tb testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("cannot find the repository root")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedGeodata returns geodata/boundaries (or $RISKMAP_SHARED_GEODATA): the
// real boundaries, shipped with their licence, that tests and benchmarks read.
func SharedGeodata(tb testing.TB) string {
	dir := os.Getenv("RISKMAP_SHARED_GEODATA")
	if dir == "" {
		dir = filepath.Join(RepoRoot(tb), "geodata", "boundaries")
	}
	if _, err := os.Stat(filepath.Join(dir, "jatim-desa.geojson")); err != nil {
		tb.Fatalf("reference geodata not found in %s (set RISKMAP_SHARED_GEODATA): %v", dir, err)
	}
	return dir
}

// NewDemo returns an open pool to a new database holding the scored demo
// region, exactly as LoadDemo leaves it, and its URL. The demo is loaded
// and scored once into a template, then copied for each test (a copy takes
// a fraction of a second; a load and a scoring run take seconds). The
// template's name carries the migrations, the demo files, the test binary
// (the importer's and the scorer's code) and the day (the cases' due dates
// count from today), so a change to any of them builds a new one; older
// days' templates are dropped when a new one is built.
func NewDemo(tb testing.TB) (*postgres.DB, string) {
	tb.Helper()
	u := DemoURL(tb)
	db, err := postgres.Open(context.Background(), u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	return db, u
}

// DemoURL is NewDemo's database, for a caller that opens it its own way.
func DemoURL(tb testing.TB) string {
	tb.Helper()
	admin := adminURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmpl := "riskmap_demo_" + time.Now().Format("20060102") + "_" + demoKey(tb)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	exists := func() bool {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&ok); err != nil {
			tb.Fatal(err)
		}
		return ok
	}
	if !exists() {
		scratch := URL(tb) // a migrated database (and the schema template, once)
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
			tb.Fatal(err)
		}
		unlock := func() { conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey) }
		if !exists() {
			db, err := postgres.Open(ctx, scratch)
			if err != nil {
				unlock()
				tb.Fatal(err)
			}
			LoadDemo(tb, db)
			db.Close()
			rows, _ := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'riskmap\\_demo\\_%' AND datname NOT LIKE $1", "riskmap_demo_"+time.Now().Format("20060102")+"_%")
			old, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			for _, o := range old {
				conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{o}.Sanitize()+" WITH (FORCE)")
			}
			// The scratch database becomes the template; its own clean-up
			// (DROP IF EXISTS by its old name) then finds nothing.
			if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{databaseName(tb, scratch)}.Sanitize()+" RENAME TO "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
				unlock()
				tb.Fatalf("keep the demo as a template: %v", err)
			}
		}
		unlock()
	}
	name := "riskmap_test_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dropDatabase(tb, admin, name) })
	return withDatabase(tb, admin, name)
}

var (
	demoKeyOnce sync.Once
	demoKeyHex  string
	demoKeyErr  error
)

// demoKey hashes what the demo template depends on: the migrations, the
// demo files and the running test binary.
func demoKey(tb testing.TB) string {
	tb.Helper()
	demoKeyOnce.Do(func() {
		h := sha256.New()
		h.Write([]byte(schemaHash(tb)))
		files, err := filepath.Glob(filepath.Join(RepoRoot(tb), "geodata", "demo", "*"))
		if err != nil {
			demoKeyErr = err
			return
		}
		exe, err := os.Executable()
		if err != nil {
			demoKeyErr = err
			return
		}
		for _, f := range append(files, exe) {
			b, err := os.ReadFile(f)
			if err != nil {
				demoKeyErr = err
				return
			}
			h.Write([]byte(filepath.Base(f)))
			h.Write(b)
		}
		demoKeyHex = hex.EncodeToString(h.Sum(nil))[:16]
	})
	if demoKeyErr != nil {
		tb.Fatal(demoKeyErr)
	}
	return demoKeyHex
}

func databaseName(tb testing.TB, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func dropDatabase(tb testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Errorf("drop test database: %v", err)
		return
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		tb.Errorf("drop test database: %v", err)
	}
}

// defaultIdentity is the default model's identity rule, which the tests'
// survey imports match households by.
func defaultIdentity(tb testing.TB) risk.Identity {
	tb.Helper()
	m, err := risk.DefaultModel()
	if err != nil {
		tb.Fatal(err)
	}
	return m.Identity
}

// DefaultIdentity is defaultIdentity for other packages' tests.
func DefaultIdentity(tb testing.TB) risk.Identity { return defaultIdentity(tb) }

// NeedsClients skips a test that drives outside clients (GDAL, QGIS,
// Chromium, Node's validators) under -short: make check runs without them,
// make test installs them and never skips.
func NeedsClients(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("drives outside clients (GDAL, QGIS, Chromium or Node): make test runs it")
	}
}

// adminURL is TEST_DATABASE_URL; without it a test fails, or under -short
// (make check) skips.
func adminURL(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		if testing.Short() {
			// make check: the tier without a database. make test always
			// sets TEST_DATABASE_URL, so there no test is skipped.
			tb.Skip("needs PostGIS: make test runs it (make check runs the tests that do not)")
		}
		tb.Fatal("TEST_DATABASE_URL is not set: run the tests with 'make test', which starts PostGIS and sets it")
	}
	return admin
}

// LoadDemo loads the committed demo region the way `riskmap demo load` does
// (villages, derived kecamatan and kabupaten, tobacco fields, institutions,
// the survey) and scores it with the default model.
func LoadDemo(tb testing.TB, db *postgres.DB) {
	tb.Helper()
	ctx := context.Background()
	dir := filepath.Join(RepoRoot(tb), "geodata", "demo")
	open := func(name string) *os.File {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { f.Close() })
		return f
	}
	areas, _, err := ingest.ReadBoundaries(open("villages.geojson"), "villages.geojson", ingest.BoundaryOptions{Level: "desa"})
	if err != nil {
		tb.Fatal(err)
	}
	opt := postgres.ImportOptions{}
	if _, err := db.ImportBoundaries(ctx, "desa", "villages.geojson", areas, nil, opt); err != nil {
		tb.Fatal(err)
	}
	if err := db.DeriveParents(ctx, map[string]string{"35.13": "Kabupaten Probolinggo", "35.13.13": "Besuk", "35.13.10": "Pakuniran"}); err != nil {
		tb.Fatal(err)
	}
	fields, _, err := ingest.ReadPlantations(open("plantations.geojson"), "plantations.geojson")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.ImportPlantations(ctx, "plantations.geojson", fields, nil, opt); err != nil {
		tb.Fatal(err)
	}
	ins, _, err := ingest.ReadInstitutions(open("institutions.csv"), "institutions.csv")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.ImportInstitutions(ctx, "institutions.csv", ins, nil, opt); err != nil {
		tb.Fatal(err)
	}
	importAndScore(tb, db, open("households.csv"), open("children.csv"))
}

// importAndScore imports a household survey (KoBoToolbox CSVs) and scores
// everything with the default model.
func importAndScore(tb testing.TB, db *postgres.DB, households, children *os.File) {
	tb.Helper()
	ctx := context.Background()
	var err error
	in := postgres.SurveyImport{HouseholdFile: filepath.Base(households.Name()), ChildFile: filepath.Base(children.Name()), MaxVillageDistance: 1000, Identity: defaultIdentity(tb)}
	if in.Households, err = ingest.NewHouseholdReader(households, in.HouseholdFile); err != nil {
		tb.Fatal(err)
	}
	if in.Children, err = ingest.NewChildReader(children, in.ChildFile, in.Households); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.ImportSurvey(ctx, in, postgres.ImportOptions{}); err != nil {
		tb.Fatal(err)
	}
	m, err := risk.DefaultModel()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Score(ctx, m, 0); err != nil {
		tb.Fatal(err)
	}
}

// LoadRealRegion loads the real boundaries of ../shared/geodata (3
// kabupaten, 76 kecamatan, 783 villages), generates households (and their
// children and tobacco fields) in those villages with the demo generator,
// imports them and scores them with the default model: the published
// tables of a realistic region, for attacks and benchmarks.
func LoadRealRegion(tb testing.TB, db *postgres.DB, households int, seed uint64) {
	tb.Helper()
	gen := loadRealGenerated(tb, db, demo.Options{Seed: seed, Households: households})
	open := func(name string) *os.File {
		f, err := os.Open(filepath.Join(gen, name))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { f.Close() })
		return f
	}
	importAndScore(tb, db, open(demo.HouseholdsFile), open(demo.ChildrenFile))
}

// LoadRealBoundaries loads the real boundaries of ../shared/geodata: 3
// kabupaten, 76 kecamatan, 783 villages.
func LoadRealBoundaries(tb testing.TB, db *postgres.DB) {
	tb.Helper()
	ctx := context.Background()
	dir := SharedGeodata(tb)
	for _, l := range []struct{ level, file string }{
		{"kabupaten", "jatim-kabupaten.geojson"}, {"kecamatan", "jatim-kecamatan.geojson"}, {"desa", "jatim-desa.geojson"},
	} {
		f, err := os.Open(filepath.Join(dir, l.file))
		if err != nil {
			tb.Fatal(err)
		}
		areas, problems, err := ingest.ReadBoundaries(f, l.file, ingest.BoundaryOptions{Level: l.level})
		f.Close()
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := db.ImportBoundaries(ctx, l.level, l.file, areas, problems, postgres.ImportOptions{}); err != nil {
			tb.Fatal(err)
		}
	}
}

// loadRealGenerated loads the real boundaries, generates a survey over them
// with opt into a temporary folder, imports its tobacco fields and returns
// the folder.
func loadRealGenerated(tb testing.TB, db *postgres.DB, opt demo.Options) string {
	tb.Helper()
	ctx := context.Background()
	LoadRealBoundaries(tb, db)
	shapes, err := db.VillageShapes(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	villages := make([]demo.Village, len(shapes))
	for i, s := range shapes {
		villages[i] = demo.Village{Code: s.Code, Name: s.Name, KecamatanCode: s.KecamatanCode, Geom: s.Geom, Risk: 0.3}
	}
	gen := tb.TempDir()
	if err := demo.Generate(gen, villages, opt); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Open(filepath.Join(gen, demo.PlantationsFile))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fields, _, err := ingest.ReadPlantations(f, demo.PlantationsFile)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.ImportPlantations(ctx, demo.PlantationsFile, fields, nil, postgres.ImportOptions{}); err != nil {
		tb.Fatal(err)
	}
	return gen
}

// LoadRealRounds loads the real boundaries and a generated survey in two
// rounds (demo.Options.FollowUp), with the visits staff would have made by
// today, exactly as make run does (demoload.TwoRounds). edit, if not nil,
// may change the generated files first (a test's own twist). It returns
// the folder of the generated files.
func LoadRealRounds(tb testing.TB, db *postgres.DB, households int, seed uint64, today time.Time, edit func(dir string)) string {
	tb.Helper()
	gen := loadRealGenerated(tb, db, demo.Options{Seed: seed, Households: households, FollowUp: true})
	if edit != nil {
		edit(gen)
	}
	m, err := risk.DefaultModel()
	if err != nil {
		tb.Fatal(err)
	}
	if err := demoload.TwoRounds(context.Background(), db, m, gen, seed, today, postgres.ImportOptions{Synthetic: true}, demoload.Report{}); err != nil {
		tb.Fatal(err)
	}
	return gen
}

// GenerateRealSurvey loads the real boundaries and their generated tobacco
// fields, and writes a generated survey of the given size over them into a
// temporary folder, which it returns, without importing it.
func GenerateRealSurvey(tb testing.TB, db *postgres.DB, households int, seed uint64) string {
	tb.Helper()
	return loadRealGenerated(tb, db, demo.Options{Seed: seed, Households: households})
}

// ImportSurveyFiles imports a KoBoToolbox household CSV and its children's
// CSV through the real importer.
func ImportSurveyFiles(tb testing.TB, db *postgres.DB, households, children string) {
	tb.Helper()
	ctx := context.Background()
	hf, err := os.Open(households)
	if err != nil {
		tb.Fatal(err)
	}
	defer hf.Close()
	cf, err := os.Open(children)
	if err != nil {
		tb.Fatal(err)
	}
	defer cf.Close()
	in := postgres.SurveyImport{HouseholdFile: filepath.Base(households), ChildFile: filepath.Base(children), MaxVillageDistance: 1000, Identity: defaultIdentity(tb)}
	if in.Households, err = ingest.NewHouseholdReader(hf, in.HouseholdFile); err != nil {
		tb.Fatal(err)
	}
	if in.Children, err = ingest.NewChildReader(cf, in.ChildFile, in.Households); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.ImportSurvey(ctx, in, postgres.ImportOptions{Synthetic: true}); err != nil {
		tb.Fatal(err)
	}
}

// ExtraSurvey writes another generated survey of the given size
// over the loaded villages (without programme card numbers, which the
// generator reuses across seeds) and returns its folder.
func ExtraSurvey(t testing.TB, db *postgres.DB, households int, seed uint64) string {
	t.Helper()
	shapes, err := db.VillageShapes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	villages := make([]demo.Village, len(shapes))
	for i, s := range shapes {
		villages[i] = demo.Village{Code: s.Code, Name: s.Name, KecamatanCode: s.KecamatanCode, Geom: s.Geom, Risk: 0.3}
	}
	dir := t.TempDir()
	if err := demo.Generate(dir, villages, demo.Options{Seed: seed, Households: households}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, demo.HouseholdsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range recs[0] {
		if h == "household/programme_id" {
			col = i
		}
	}
	if col < 0 {
		t.Fatal("the generated households have no programme_id column")
	}
	for _, r := range recs[1:] {
		r[col] = ""
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	w.WriteAll(recs)
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// VillageExtent is the bounding box of db's villages: min lon, min lat,
// max lon, max lat (tests and benchmarks pick tiles over it).
func VillageExtent(tb testing.TB, db *postgres.DB) (minLon, minLat, maxLon, maxLat float64) {
	tb.Helper()
	if err := db.Pool.QueryRow(context.Background(), `SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM village) x`).
		Scan(&minLon, &minLat, &maxLon, &maxLat); err != nil {
		tb.Fatal(err)
	}
	return minLon, minLat, maxLon, maxLat
}
