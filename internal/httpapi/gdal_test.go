package httpapi_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/dbtest"
)

// TestGDALClient uses a real OGC API - Features client: GDAL's OAPIF driver
// lists every collection and copies every village into a GeoPackage,
// paging through a small page size. `make test` installs gdal-bin.
func TestGDALClient(t *testing.T) {
	t.Parallel()
	dbtest.NeedsClients(t)
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
	for _, field := range []string{"name: String", "score: Real", "tier: String", "m08: Real", "c_prevalence: Real", "households: Integer"} {
		if !strings.Contains(string(out), field) {
			t.Errorf("the GeoPackage lacks field %q:\n%s", field, out)
		}
	}
	// Every field the service serves is in the GeoPackage under its own
	// name, and in a Shapefile under its first 10 characters.
	fields := villageFields(t, srv.URL)
	for _, f := range fields {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(f) + `: `).MatchString(string(out)) {
			t.Errorf("the GeoPackage lacks field %s", f)
		}
	}
	shp := filepath.Join(t.TempDir(), "villages.shp")
	if out, err := exec.Command("ogr2ogr", "-f", "ESRI Shapefile", shp, gpkg).CombinedOutput(); err != nil {
		t.Fatalf("ogr2ogr to Shapefile: %v\n%s", err, out)
	}
	out, err = exec.Command("ogrinfo", "-ro", "-so", "-al", shp).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo on the Shapefile: %v\n%s", err, out)
	}
	for _, f := range fields {
		short := f
		if len(short) > 10 {
			short = short[:10]
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(short) + `: `).MatchString(string(out)) {
			t.Errorf("the Shapefile lacks field %s (as %s):\n%s", f, short, out)
		}
	}

	// A -where that CQL2 can say is sent to the server as filter=, and the
	// features are the ones PostGIS selects.
	out, err = exec.Command("ogrinfo", "-ro", "-al", "-so", "-where", "score > 40 AND tier = 'medium'", "OAPIF:"+srv.URL+"/collections/villages").CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo -where: %v\n%s", err, out)
	}
	var filtered int
	db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM area_public WHERE level = 'desa' AND score > 40 AND tier = 'medium'`).Scan(&filtered)
	m = regexp.MustCompile(`Feature Count: (\d+)`).FindStringSubmatch(string(out))
	if m == nil || m[1] != strconv.Itoa(filtered) || filtered == 0 {
		t.Errorf("ogrinfo -where counts %v, PostGIS %d:\n%s", m, filtered, out)
	}
	_, metrics = get(t, srv.URL+"/metrics")
	if !regexp.MustCompile(`riskmap_filter_requests_total\{collection="villages",lang="cql-text"\} [1-9]`).Match(metrics) {
		t.Errorf("GDAL did not send its -where as a filter:\n%s", grepLines(string(metrics), "filter"))
	}
}

// villageFields is the default property list of the villages collection.
func villageFields(t *testing.T, base string) []string {
	fc := items(t, base+"/collections/villages/items?limit=1")
	var out []string
	for k := range fc.Features[0].Properties {
		out = append(out, k)
	}
	if len(out) < 30 {
		t.Fatalf("villages have %d fields", len(out))
	}
	return out
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
