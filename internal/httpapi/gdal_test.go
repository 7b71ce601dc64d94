package httpapi_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestGDALClient uses a real OGC API - Features client: GDAL's OAPIF driver
// lists every collection and copies every village into a GeoPackage,
// paging through a small page size. `make test` installs gdal-bin.
func TestGDALClient(t *testing.T) {
	for _, tool := range []string{"ogrinfo", "ogr2ogr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: install gdal-bin (make test does so as root)", tool)
		}
	}
	srv, db := newServer(t)
	out, err := exec.Command("ogrinfo", "-ro", "-al", "-so", "OAPIF:"+srv.URL+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo: %v\n%s", err, out)
	}
	for _, c := range []string{"kabupaten", "kecamatan", "villages", "plantations", "hotspots"} {
		if !strings.Contains(string(out), "Layer name: "+c) {
			t.Errorf("ogrinfo does not list collection %s:\n%.2000s", c, out)
		}
	}
	gpkg := filepath.Join(t.TempDir(), "villages.gpkg")
	out, err = exec.Command("ogr2ogr", "-f", "GPKG", gpkg, "OAPIF:"+srv.URL+"/collections/villages", "-oo", "PAGE_SIZE=7").CombinedOutput()
	if err != nil {
		t.Fatalf("ogr2ogr: %v\n%s", err, out)
	}
	out, err = exec.Command("ogrinfo", "-ro", "-so", "-al", gpkg).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo on the GeoPackage: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Feature Count: (\d+)`).FindStringSubmatch(string(out))
	var want int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM village").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if m == nil {
		t.Fatalf("no feature count in:\n%s", out)
	}
	if got, _ := strconv.Atoi(m[1]); got != want {
		t.Errorf("the GeoPackage holds %d villages, the database %d", got, want)
	}
	_, metrics := get(t, srv.URL+"/metrics")
	pages := regexp.MustCompile(`riskmap_http_requests_total\{method="GET",route="/collections/\{collection\}/items",status="200"\} (\d+)`).FindStringSubmatch(string(metrics))
	if n, _ := strconv.Atoi(pages[1]); pages == nil || n < (want+6)/7 {
		t.Errorf("GDAL fetched the items in %v requests, want at least %d pages of 7", pages, (want+6)/7)
	}
	for _, field := range []string{"name: String", "score: Real", "tier: String"} {
		if !strings.Contains(string(out), field) {
			t.Errorf("the GeoPackage lacks field %q:\n%s", field, out)
		}
	}
}
