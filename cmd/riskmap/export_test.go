package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gopm "github.com/protomaps/go-pmtiles/pmtiles"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// TestExportPMTiles exports the demo's public layers and reads them back
// the way a CDN-served map does: the PMTiles archive through go-pmtiles'
// own server (a reader apart from the writer), whose tile must be the tile
// /tiles serves; the GeoJSON must hold every village with its published
// figures and nothing of a household.
func TestExportPMTiles(t *testing.T) {
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
	srv, err := gopm.NewServer("file://"+dir, "", log.New(io.Discard, "", 0), 16, "http://cdn.example")
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
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
	checked := 0
	for z := 8; z <= 13; z++ {
		x, y := postgres.LonLatToTile(113.4998, -7.8094, z) // Alasnyiur
		status, _, body := srv.Get(context.Background(), fmt.Sprintf("/villages/%d/%d/%d.mvt", z, x, y))
		want, err := db.Tile(context.Background(), villages, z, x, y, 0)
		if err != nil {
			t.Fatal(err)
		}
		if status != 200 {
			t.Fatalf("go-pmtiles serves %d/%d/%d with status %d", z, x, y, status)
		}
		if r, err := gzip.NewReader(bytes.NewReader(body)); err == nil { // the server may pass the stored gzip through
			body, _ = io.ReadAll(r)
		}
		if !bytes.Equal(body, want) || len(want) == 0 {
			t.Errorf("tile %d/%d/%d from the archive (%d bytes) is not the served tile (%d bytes)", z, x, y, len(body), len(want))
		}
		checked++
	}
	status, _, tj := srv.Get(context.Background(), "/villages.json")
	if status != 200 || !strings.Contains(string(tj), `"vector_layers"`) || !strings.Contains(string(tj), `"tier"`) {
		t.Errorf("TileJSON from the archive: %d %s", status, tj)
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
	man, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if !strings.Contains(string(man), `"data_version"`) || !strings.Contains(string(man), `"synthetic"`) {
		t.Errorf("manifest: %s", man)
	}
	t.Logf("%d tiles read back through go-pmtiles", checked)
}
