package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/httpapi"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// TestExportPMTiles exports the demo's public layers and reads them back
// the way a CDN-served map does: the PMTiles archive through the protomaps
// JavaScript library (a reader apart from the writer), whose tiles must be
// the tiles /tiles serves; the GeoJSON must hold every village with its published
// figures and nothing of a household.
func TestExportPMTiles(t *testing.T) {
	dbtest.NeedsClients(t)
	url := dbtest.URL(t)
	getenv := envWith(map[string]string{"DATABASE_URL": url})
	if _, _, err := runCmd(t, getenv, "demo", "load", "--dir", filepath.Join(dbtest.RepoRoot(t), "geodata", "demo")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, _, err := runCmd(t, getenv, "export", "--pmtiles", dir, "--minzoom", "8", "--maxzoom", "13")
	if err != nil || !strings.Contains(out, "wrote villages.pmtiles") {
		t.Fatalf("export: %v %s", err, out)
	}
	// The protomaps JavaScript reader, as a CDN-served map page uses it.
	root := dbtest.RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "web", "node_modules", "pmtiles")); err != nil {
		t.Fatal("web/node_modules/pmtiles is missing: run make web (make test does)")
	}
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var villages *postgres.Collection
	for _, c := range postgres.Collections() {
		if c.ID == "villages" {
			villages = c
		}
	}
	args := []string{filepath.Join(root, "web", "test", "pmtiles.mjs"), filepath.Join(dir, "villages.pmtiles")}
	want := map[string][]byte{}
	for z := 8; z <= 13; z++ {
		x, y := postgres.LonLatToTile(113.4998, -7.8094, z) // Alasnyiur
		k := fmt.Sprintf("%d/%d/%d", z, x, y)
		if want[k], err = db.Tile(context.Background(), villages, z, x, y, 8); err != nil {
			t.Fatal(err)
		}
		args = append(args, k)
	}
	args = append(args, "12/0/0") // the Arctic: not in the archive
	cmd := exec.Command("node", args...)
	cmd.Dir = filepath.Join(root, "web")
	outJS, err := cmd.Output()
	if err != nil {
		t.Fatalf("node pmtiles reader: %v", err)
	}
	var read struct {
		Header struct {
			SpecVersion, MinZoom, MaxZoom, TileType, Addressed int
		} `json:"header"`
		VectorLayers []struct {
			ID     string            `json:"id"`
			Fields map[string]string `json:"fields"`
		} `json:"vector_layers"`
		Tiles map[string]*string `json:"tiles"`
	}
	if err := json.Unmarshal(outJS, &read); err != nil {
		t.Fatalf("%v: %s", err, outJS)
	}
	h := read.Header
	if h.SpecVersion != 3 || h.MinZoom != 8 || h.MaxZoom != 13 || h.TileType != 1 || h.Addressed == 0 {
		t.Errorf("header as the reader sees it: %+v", h)
	}
	if len(read.VectorLayers) != 1 || read.VectorLayers[0].ID != "villages" || read.VectorLayers[0].Fields["tier"] == "" {
		t.Errorf("vector_layers: %+v", read.VectorLayers)
	}
	checked := 0
	for k, w := range want {
		got := read.Tiles[k]
		if got == nil {
			t.Errorf("tile %s missing from the archive", k)
			continue
		}
		b, _ := base64.StdEncoding.DecodeString(*got)
		if !bytes.Equal(b, w) || len(w) == 0 {
			t.Errorf("tile %s from the archive (%d bytes) is not the served tile (%d bytes)", k, len(b), len(w))
		}
		checked++
	}
	if read.Tiles["12/0/0"] != nil {
		t.Errorf("a tile outside the data is in the archive")
	}
	// Every non-empty tile of the villages' extent is in the archive: the
	// export asks only for the tiles holding pieces, and misses none.
	ext, _, err := db.Extent(context.Background(), &postgres.ItemsQuery{Collection: villages})
	if err != nil {
		t.Fatal(err)
	}
	nonEmpty := 0
	for z := 8; z <= 13; z++ {
		x0, y0 := postgres.LonLatToTile(ext[0], ext[3], z)
		x1, y1 := postgres.LonLatToTile(ext[2], ext[1], z)
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				b, err := db.Tile(context.Background(), villages, z, x, y, 8)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) > 0 {
					nonEmpty++
				}
			}
		}
	}
	if h := read.Header; h.Addressed != nonEmpty {
		t.Errorf("the archive addresses %d tiles; the extent has %d non-empty ones", h.Addressed, nonEmpty)
	}
	b, err := os.ReadFile(filepath.Join(dir, "villages.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(b, &fc); err != nil || fc.Type != "FeatureCollection" || len(fc.Features) != 44 {
		t.Fatalf("villages.geojson: %v, %d features", err, len(fc.Features))
	}
	for _, leak := range []string{"survey_uuid", "programme_id", "KSP-", "children\":["} {
		if strings.Contains(string(b), leak) {
			t.Errorf("the public export holds %q", leak)
		}
	}
	// FlatGeobuf, read by GDAL (its FlatGeobuf driver verifies the
	// flatbuffers): every village, with the GeoJSON export's values and
	// geometry.
	if _, err := exec.LookPath("ogr2ogr"); err != nil {
		t.Fatal("ogr2ogr is not installed: apt-get install gdal-bin (make test does so as root)")
	}
	fromFGB, err := exec.Command("ogr2ogr", "-f", "GeoJSON", "/vsistdout/", filepath.Join(dir, "villages.fgb")).Output()
	if err != nil {
		t.Fatalf("ogr2ogr villages.fgb: %v", err)
	}
	type gjFeature struct {
		Geometry struct {
			Type        string          `json:"type"`
			Coordinates [][][][]float64 `json:"coordinates"`
		} `json:"geometry"`
		Properties map[string]any `json:"properties"`
	}
	var fgbFC, apiFC struct {
		Features []gjFeature `json:"features"`
	}
	if err := json.Unmarshal(fromFGB, &fgbFC); err != nil {
		t.Fatalf("GDAL's reading of villages.fgb: %v", err)
	}
	json.Unmarshal(b, &apiFC)
	byCode := map[string]gjFeature{}
	for _, f := range apiFC.Features {
		byCode[fmt.Sprint(f.Properties["code"])] = f
	}
	if len(fgbFC.Features) != len(apiFC.Features) {
		t.Errorf("villages.fgb holds %d features, villages.geojson %d", len(fgbFC.Features), len(apiFC.Features))
	}
	compared := 0
	for _, f := range fgbFC.Features {
		code := fmt.Sprint(f.Properties["code"])
		a, ok := byCode[code]
		if !ok {
			t.Errorf("villages.fgb: village %s is not in the GeoJSON export", code)
			continue
		}
		for _, k := range []string{"name", "kecamatan_code", "status", "tier", "score", "households", "hazardous", "prevalence", "hotspot"} {
			if fmt.Sprint(f.Properties[k]) != fmt.Sprint(a.Properties[k]) {
				t.Errorf("village %s: %s is %v in villages.fgb, %v in the GeoJSON", code, k, f.Properties[k], a.Properties[k])
			}
		}
		fc, ac := f.Geometry.Coordinates, a.Geometry.Coordinates
		if f.Geometry.Type != "MultiPolygon" || len(fc) != len(ac) {
			t.Errorf("village %s: %s of %d polygons in villages.fgb, %d in the GeoJSON", code, f.Geometry.Type, len(fc), len(ac))
			continue
		}
		for i := range fc {
			for j := range fc[i] {
				if len(fc[i][j]) != len(ac[i][j]) {
					t.Errorf("village %s: ring %d.%d has %d points in villages.fgb, %d in the GeoJSON", code, i, j, len(fc[i][j]), len(ac[i][j]))
					continue
				}
				for k := range fc[i][j] {
					if math.Abs(fc[i][j][k][0]-ac[i][j][k][0]) > 1e-6 || math.Abs(fc[i][j][k][1]-ac[i][j][k][1]) > 1e-6 {
						t.Errorf("village %s: point %d.%d.%d is %v in villages.fgb, %v in the GeoJSON", code, i, j, k, fc[i][j][k], ac[i][j][k])
						break
					}
				}
			}
		}
		compared++
	}
	if compared != 44 {
		t.Errorf("compared %d villages of villages.fgb, want 44", compared)
	}
	man, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if !strings.Contains(string(man), `"data_version"`) || !strings.Contains(string(man), `"synthetic"`) {
		t.Errorf("manifest: %s", man)
	}
	t.Logf("%d tiles read back through the protomaps JavaScript reader", checked)

	// The map page drawing from the archives where they are served (serve
	// --pmtiles-url): a static host on another origin, read by range
	// requests from a real browser.
	if _, err := os.Stat("/usr/bin/chromium"); err != nil && os.Getenv("CHROMIUM") == "" {
		t.Fatal("chromium is not installed: apt-get install chromium (make test does so as root)")
	}
	files := http.FileServer(http.Dir(dir))
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Headers", "Range, If-Match")
		w.Header().Set("Access-Control-Expose-Headers", "ETag, Content-Range, Content-Length")
		if r.Method == http.MethodOptions {
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer static.Close()
	mapSrv := httptest.NewServer(httpapi.NewServer(db, slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Options{PMTilesURL: static.URL}).Handler())
	defer mapSrv.Close()
	cmd = exec.Command("node", filepath.Join(root, "web", "test", "pmtiles-map.mjs"), mapSrv.URL, static.URL)
	cmd.Dir = filepath.Join(root, "web")
	outMap, err := cmd.CombinedOutput()
	t.Logf("%s", outMap)
	if err != nil {
		t.Fatalf("the map page from the archives: %v", err)
	}
	for _, want := range []string{"drawn from the archive", "range requests", "the month is the archives'", "kecamatan features", "no page errors"} {
		if !strings.Contains(string(outMap), want) {
			t.Errorf("the archive map test did not check %q", want)
		}
	}
}
