package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/mbtiles"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// TestExportMBTiles writes a kecamatan's map for the phone and opens it
// with GDAL (the MBTiles driver QGIS uses; ODK Collect reads the same
// tables): format pbf, the four layers with their fields and features, the
// households only when asked for, under a staff key that covers the area,
// and audited; a tile read back is the layers' tiles as the service builds
// them.
func TestExportMBTiles(t *testing.T) {
	dbtest.NeedsClients(t)
	if _, err := exec.LookPath("ogrinfo"); err != nil {
		t.Fatal("ogrinfo (gdal-bin) is missing: make test installs it")
	}
	db, url := dbtest.NewDemo(t)
	getenv := envWith(map[string]string{"DATABASE_URL": url})
	ctx := context.Background()
	const area = "35.13.13"
	dir := t.TempDir()
	public := filepath.Join(dir, "besuk.mbtiles")
	out, _, err := runCmd(t, getenv, "export", "--mbtiles", public, "--area", area, "--month", "8")
	if err != nil || !strings.Contains(out, "wrote "+public) {
		t.Fatalf("export --mbtiles: %v %q", err, out)
	}
	ogr := func(args ...string) string {
		b, err := exec.Command("ogrinfo", append([]string{"-ro", "-so"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ogrinfo %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	count := regexp.MustCompile(`Feature Count: (\d+)`)
	info := ogr(public)
	for _, want := range []string{"format=pbf", "minzoom=10", "maxzoom=14", "1: kecamatan", "2: villages", "3: plantations"} {
		if !strings.Contains(info, want) {
			t.Errorf("GDAL does not see %q in the file:\n%s", want, info)
		}
	}
	if strings.Contains(info, "households") {
		t.Error("households in an export that did not ask for them")
	}
	var villages int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM village WHERE code LIKE $1 || '.%'`, area).Scan(&villages)
	v := ogr(public, "villages")
	m := count.FindStringSubmatch(v)
	if m == nil || mustAtoi(m[1]) < villages || !strings.Contains(v, "seasonal_score: Real") || !strings.Contains(v, "tier: String") {
		t.Errorf("villages layer at zoom 14 (%d villages in %s):\n%s", villages, area, v)
	}

	// A tile read back: the service's tiles of the three layers, joined.
	byID := map[string]*postgres.Collection{}
	for _, c := range postgres.Collections() {
		byID[c.ID] = c
	}
	x, y := postgres.LonLatToTile(113.4998, -7.8094, 13) // Alasnyiur
	gz, meta, err := mbtiles.Read(ctx, public, 13, x, y)
	if err != nil || gz == nil {
		t.Fatalf("tile 13/%d/%d: %v", x, y, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("the tile is not gzip, as MBTiles asks of pbf: %v", err)
	}
	got, _ := io.ReadAll(zr)
	var want []byte
	for _, id := range []string{"kecamatan", "villages", "plantations"} {
		b, err := db.Tile(ctx, byID[id], 13, x, y, 8)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("tile 13/%d/%d: %d bytes, want the service's %d", x, y, len(got), len(want))
	}
	var js struct {
		VectorLayers []struct {
			ID     string            `json:"id"`
			Fields map[string]string `json:"fields"`
		} `json:"vector_layers"`
	}
	if err := json.Unmarshal([]byte(meta["json"]), &js); err != nil || len(js.VectorLayers) != 3 || js.VectorLayers[1].Fields["score"] != "Number" {
		t.Errorf("metadata json: %v %s", err, meta["json"])
	}

	// Household points: refused to a key of another area, carried under the
	// area's staff key and audited.
	other, _, _ := runCmd(t, getenv, "keys", "create", "--role", "staff", "--area", "35.13.10", "--name", "elsewhere")
	staff, _, _ := runCmd(t, getenv, "keys", "create", "--role", "staff", "--area", area, "--name", "fasilitator Besuk")
	private := filepath.Join(dir, "besuk-staff.mbtiles")
	if _, _, err := runCmd(t, getenv, "export", "--mbtiles", private, "--area", area, "--households", "--key-file", secretFile(t, strings.TrimSpace(other))); err == nil || !strings.Contains(err.Error(), "may not carry") {
		t.Errorf("another area's key: %v", err)
	}
	if _, _, err := runCmd(t, getenv, "export", "--mbtiles", private, "--area", area, "--households", "--key-file", secretFile(t, strings.TrimSpace(staff))); err != nil {
		t.Fatal(err)
	}
	var points int
	db.Pool.QueryRow(ctx, `SELECT count(DISTINCT identity_id) FROM household WHERE village_code LIKE $1 || '.%'`, area).Scan(&points)
	h := ogr(private, "households")
	m = count.FindStringSubmatch(h)
	if m == nil || mustAtoi(m[1]) < points || !strings.Contains(h, "programme_id: String") || !strings.Contains(h, "open_cases") {
		t.Errorf("households layer (%d households in %s):\n%s", points, area, h)
	}
	var records int
	var route string
	db.Pool.QueryRow(ctx, `SELECT route, records FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&route, &records)
	if route != "cli: export --mbtiles households" || records != points {
		t.Errorf("audit: %q %d records, want the export of %d households", route, records, points)
	}
	if _, _, err := runCmd(t, getenv, "export", "--mbtiles", private, "--area", area); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("writing over an existing file: %v", err)
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
