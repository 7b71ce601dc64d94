package httpapi_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/httpapi"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// newServer serves a fresh database holding the demo villages.
func newServer(t *testing.T) (*httptest.Server, *postgres.DB) {
	t.Helper()
	db := dbtest.New(t)
	file := filepath.Join(dbtest.RepoRoot(t), "geodata", "demo", "villages.geojson")
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	areas, problems, err := ingest.ReadBoundaries(f, file, ingest.BoundaryOptions{Level: "desa"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportBoundaries(context.Background(), "desa", file, areas, problems, postgres.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeriveParents(context.Background(), map[string]string{"35.13.13": "Besuk", "35.13.10": "Pakuniran", "35.13": "Kabupaten Probolinggo"}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(httpapi.NewServer(db, log).Handler())
	t.Cleanup(srv.Close)
	return srv, db
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s (-want +got):\n-%.400s\n+%.400s", name, path, want, got)
	}
}

func TestRoutes(t *testing.T) {
	srv, _ := newServer(t)
	cases := []struct {
		path, contentType string
		status            int
		body              string // a part of the body
	}{
		{"/healthz", "application/json", 200, `"status":"ok"`},
		{"/readyz", "application/json", 200, `"status":"ready"`},
		{"/nope", "application/problem+json", 404, `"title":"no such resource"`},
		{"/collections/villages/items", "application/geo+json", 200, `"id":"35.13.13.2003"`},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, srv.URL+tc.path)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.contentType || !strings.Contains(string(body), tc.body) {
				t.Errorf("GET %s = %d %s %.200s; want %d %s containing %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.contentType, tc.body)
			}
		})
	}
	resp, err := http.Post(srv.URL+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("POST /healthz = %d %s, want 405 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestVillagesGeoJSON(t *testing.T) {
	srv, db := newServer(t)
	_, body := get(t, srv.URL+"/collections/villages/items")
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			ID         string         `json:"id"`
			Properties map[string]any `json:"properties"`
			Geometry   struct {
				Type string `json:"type"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(body, &fc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	var n int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM village").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if fc.Type != "FeatureCollection" || len(fc.Features) != n || n != 44 {
		t.Fatalf("%s with %d features, want a FeatureCollection of the %d villages (44)", fc.Type, len(fc.Features), n)
	}
	f := fc.Features[0]
	if f.Geometry.Type != "MultiPolygon" || f.Properties["kecamatan"] == nil {
		t.Errorf("first feature %+v lacks a MultiPolygon or its kecamatan name", f)
	}
	golden(t, "villages", body)
}

func TestReadyzSchemaBehind(t *testing.T) {
	srv, db := newServer(t)
	if _, err := db.Pool.Exec(context.Background(), "DELETE FROM schema_migration"); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, srv.URL+"/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "riskmap migrate") {
		t.Errorf("/readyz with the schema behind = %d %s, want 503 naming riskmap migrate", resp.StatusCode, body)
	}
}
