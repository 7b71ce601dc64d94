package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb/encoding/mvt"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/httpapi"
	"github.com/kesempatan/riskmap/internal/postgres"
)

func TestTiles(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t)
	x, y := postgres.LonLatToTile(113.4998, -7.8094, 12) // Alasnyiur
	cases := []struct {
		path, contentType string
		status            int
		empty             bool
	}{
		{fmt.Sprintf("/tiles/villages/12/%d/%d.mvt?month=8", x, y), "application/vnd.mapbox-vector-tile", 200, false},
		{fmt.Sprintf("/tiles/kecamatan/12/%d/%d.mvt", x, y), "application/vnd.mapbox-vector-tile", 200, false},
		{fmt.Sprintf("/tiles/plantations/12/%d/%d.mvt", x, y), "application/vnd.mapbox-vector-tile", 200, false},
		{fmt.Sprintf("/tiles/hotspots/12/%d/%d.mvt", x, y), "application/vnd.mapbox-vector-tile", 200, false},
		{"/tiles/villages/12/0/0.mvt", "application/vnd.mapbox-vector-tile", 200, true}, // the Arctic: an empty tile
		{"/tiles/villages/8/256/0.mvt", "application/problem+json", 400, false},
		{"/tiles/villages/-1/0/0.mvt", "application/problem+json", 400, false},
		{"/tiles/villages/23/0/0.mvt", "application/problem+json", 400, false},
		{"/tiles/villages/8/1/1.png", "application/problem+json", 400, false},
		{"/tiles/villages/8/1/1.mvt?month=13", "application/problem+json", 400, false},
		{"/tiles/villages/8/1/1.mvt?colour=red", "application/problem+json", 400, false},
		{"/tiles/households/8/1/1.mvt", "application/problem+json", 404, false},
	}
	for _, tc := range cases {
		resp, body := get(t, srv.URL+tc.path)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.contentType || (tc.status == 200 && (len(body) == 0) != tc.empty) {
			t.Errorf("GET %s = %d %s, %d bytes; want %d %s (empty %v)", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), tc.status, tc.contentType, tc.empty)
		}
	}
	resp, _ := get(t, srv.URL+cases[0].path)
	if tag := resp.Header.Get("ETag"); tag == "" {
		t.Error("tiles carry no ETag")
	} else if resp, _ := get(t, srv.URL+cases[0].path, "If-None-Match", tag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("tile with its ETag = %d, want 304", resp.StatusCode)
	}

	_, body := get(t, srv.URL+"/tiles/villages.json")
	var tj struct {
		TileJSON     string    `json:"tilejson"`
		Tiles        []string  `json:"tiles"`
		Bounds       []float64 `json:"bounds"`
		Center       []float64 `json:"center"`
		MinZoom      int       `json:"minzoom"`
		MaxZoom      int       `json:"maxzoom"`
		VectorLayers []struct {
			ID     string            `json:"id"`
			Fields map[string]string `json:"fields"`
		} `json:"vector_layers"`
	}
	if err := json.Unmarshal(body, &tj); err != nil {
		t.Fatal(err)
	}
	if tj.TileJSON != "3.0.0" || len(tj.Tiles) != 1 || !strings.HasSuffix(tj.Tiles[0], "/tiles/villages/{z}/{x}/{y}.mvt") ||
		len(tj.Bounds) != 4 || len(tj.Center) != 3 || tj.MinZoom >= tj.MaxZoom || len(tj.VectorLayers) != 1 ||
		tj.VectorLayers[0].ID != "villages" || tj.VectorLayers[0].Fields["tier"] == "" || tj.VectorLayers[0].Fields["seasonal_score"] == "" {
		t.Errorf("TileJSON = %s", body)
	}
}

// TestTilesWithGDAL decodes a tile with a real MVT reader, GDAL's driver.
func TestTilesWithGDAL(t *testing.T) {
	t.Parallel()
	dbtest.NeedsClients(t)
	if _, err := exec.LookPath("ogrinfo"); err != nil {
		t.Fatal("ogrinfo is not installed: install gdal-bin (make test does so as root)")
	}
	srv, _ := newServer(t)
	x, y := postgres.LonLatToTile(113.4998, -7.8094, 12)
	_, tile := get(t, srv.URL+fmt.Sprintf("/tiles/villages/12/%d/%d.mvt?month=8", x, y))
	dir := filepath.Join(t.TempDir(), "12", fmt.Sprint(x))
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, fmt.Sprintf("%d.pbf", y)) // z/x/y in the path georeferences the tile for GDAL
	if err := os.WriteFile(path, tile, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ogrinfo", "-ro", "-al", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"Layer name: villages", "Polygon", "name: String", "tier: String",
		"seasonal_score: Real", "score: Real", "households: Integer", "name (String) = Alasnyiur", "code (String) = 35.13.13.2003"} {
		if !strings.Contains(s, want) {
			t.Errorf("GDAL's reading of the tile lacks %q:\n%.3000s", want, s)
		}
	}
	// Under zoom 10 a village tile is lean: what the map colours and names
	// villages by, not their counts (GDAL reads no households field); under
	// zoom 8, where villages are a pixel or two, it is empty.
	x9, y9 := postgres.LonLatToTile(113.4998, -7.8094, 9)
	_, lean := get(t, srv.URL+fmt.Sprintf("/tiles/villages/9/%d/%d.mvt?month=8", x9, y9))
	dir9 := filepath.Join(t.TempDir(), "9", fmt.Sprint(x9))
	os.MkdirAll(dir9, 0o755)
	path9 := filepath.Join(dir9, fmt.Sprintf("%d.pbf", y9))
	if err := os.WriteFile(path9, lean, 0o644); err != nil {
		t.Fatal(err)
	}
	out9, err := exec.Command("ogrinfo", "-ro", "-al", path9).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo: %v\n%s", err, out9)
	}
	for _, want := range []string{"name (String) = Alasnyiur", "seasonal_score (Real) =", "status (String) = published", "tier (String) ="} {
		if !strings.Contains(string(out9), want) {
			t.Errorf("the zoom-9 tile lacks %q:\n%.2000s", want, out9)
		}
	}
	for _, unwanted := range []string{"households (Integer) =", "hazardous (Integer) =", "prevalence (Real) ="} {
		if strings.Contains(string(out9), unwanted) {
			t.Errorf("the zoom-9 (lean) tile carries %q", unwanted)
		}
	}
	x7, y7 := postgres.LonLatToTile(113.4998, -7.8094, 7)
	if resp, z7 := get(t, srv.URL+fmt.Sprintf("/tiles/villages/7/%d/%d.mvt", x7, y7)); resp.StatusCode != 200 || len(z7) != 0 {
		t.Errorf("the zoom-7 village tile = %d, %d bytes; want 200 and empty", resp.StatusCode, len(z7))
	}
	_, z8 := get(t, srv.URL+"/tiles/kabupaten/8/208/133.mvt")
	if len(z8) == 0 || len(z8) > 50_000 {
		t.Errorf("the zoom-8 kabupaten tile is %d bytes, want a small, non-empty tile", len(z8))
	}
}

// TestTileCoverage: tiles away from every area are answered empty without a
// query (the layer's coverage), and the coverage never hides anything: over
// the region and a ring of tiles around it, at zooms 5-14, every tile
// served equals the tile PostGIS builds. At a zoom a layer is cut at the
// coverage is exact (its pieces): every empty tile, inside the areas'
// bounding boxes too, is answered without a query. A kabupaten moved away
// then draws at its new place: the pieces are read again.
func TestTileCoverage(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	metric := func(name string) float64 { return metricValue(t, srv.URL, name) }
	minLon, minLat, maxLon, maxLat := dbtest.VillageExtent(t, db)
	// The coverage is computed in the background on a layer's first tile
	// of a data version: wait until a sea tile of each layer no longer
	// reaches the cache.
	waitCoverage := func(when string) {
		t.Helper()
		for _, layer := range []string{"villages", "kecamatan", "kabupaten"} {
			sea := srv.URL + "/tiles/" + layer + "/12/0/0.mvt"
			for i := 0; ; i++ {
				before := metric("riskmap_tile_cache_misses_total")
				get(t, sea)
				if metric("riskmap_tile_cache_misses_total") == before {
					break
				}
				if i == 50 {
					t.Fatalf("%s: a %s tile far from every area is still queried after 5 s", when, layer)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	waitCoverage("at the start")
	// And the gauge says so once the tile properties are read too: the
	// kabupaten, kecamatan, villages and hotspots collections.
	for i := 0; metric("riskmap_tile_layers_ready") != 4; i++ {
		if i == 200 {
			t.Fatalf("riskmap_tile_layers_ready is %v after 20 s, want 4", metric("riskmap_tile_layers_ready"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	byID := map[string]*postgres.Collection{}
	for _, c := range postgres.Collections() {
		byID[c.ID] = c
	}
	var compared, nonEmpty, skipped int
	for _, id := range []string{"villages", "kecamatan", "kabupaten"} {
		for z := 5; z <= 14; z++ {
			x0, y0 := postgres.LonLatToTile(minLon, maxLat, z)
			x1, y1 := postgres.LonLatToTile(maxLon, minLat, z)
			x0, y0, x1, y1 = x0-2, y0-2, x1+2, y1+2 // a ring of tiles around the region
			n := (x1 - x0 + 1) * (y1 - y0 + 1)
			step := max(1, n/40)
			for k := 0; k < n; k += step {
				x, y := x0+k%(x1-x0+1), y0+k/(x1-x0+1)
				before := metric("riskmap_tile_cache_misses_total")
				_, served := get(t, fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt", srv.URL, id, z, x, y))
				queried := metric("riskmap_tile_cache_misses_total") != before
				if !queried {
					skipped++
				}
				built, err := db.Tile(ctx, byID[id], z, x, y, 0)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(served, built) {
					t.Errorf("%s %d/%d/%d: served %d bytes, PostGIS builds %d", id, z, x, y, len(served), len(built))
				}
				if len(built) == 0 && queried && postgres.TileCut(byID[id].TileLayer, z) {
					t.Errorf("%s %d/%d/%d: an empty tile of a cut zoom was queried: the pieces say it is empty", id, z, x, y)
				}
				compared++
				if len(built) > 0 {
					nonEmpty++
				}
			}
		}
	}
	if nonEmpty == 0 || skipped == 0 || skipped >= compared {
		t.Errorf("%d tiles compared, %d with features, %d answered without a query", compared, nonEmpty, skipped)
	}
	t.Logf("%d tiles compared, %d with features, %d answered without a query", compared, nonEmpty, skipped)

	// Move a kabupaten three degrees east, over the sea: its pieces are
	// cut again there. A tile that was empty now holds it, and is served
	// as PostGIS builds it once the new data version is read (VersionTTL),
	// and still after the coverage of that version is ready.
	var code string
	if err := db.Pool.QueryRow(ctx, `SELECT code FROM kabupaten ORDER BY code LIMIT 1`).Scan(&code); err != nil {
		t.Fatal(err)
	}
	var lon, lat float64
	if err := db.Pool.QueryRow(ctx, `SELECT ST_X(p) + 3, ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM kabupaten WHERE code = $1) k`, code).Scan(&lon, &lat); err != nil {
		t.Fatal(err)
	}
	x, y := postgres.LonLatToTile(lon, lat, 12)
	moved := fmt.Sprintf("%s/tiles/kabupaten/12/%d/%d.mvt", srv.URL, x, y)
	if _, b := get(t, moved); len(b) != 0 {
		t.Fatalf("tile 12/%d/%d, three degrees east of %s, holds %d bytes before the move", x, y, code, len(b))
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE kabupaten SET geom = ST_Translate(geom, 3, 0) WHERE code = $1`, code); err != nil {
		t.Fatal(err)
	}
	built, err := db.Tile(ctx, byID["kabupaten"], 12, x, y, 0)
	if err != nil || len(built) == 0 {
		t.Fatalf("the moved kabupaten's tile: %d bytes, %v", len(built), err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, served := get(t, moved)
		if bytes.Equal(served, built) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the moved kabupaten's tile is served with %d bytes 10 s after the move, PostGIS builds %d", len(served), len(built))
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitCoverage("after the move")
	if _, served := get(t, moved); !bytes.Equal(served, built) {
		t.Errorf("with the new coverage, the moved kabupaten's tile is served with %d bytes, PostGIS builds %d", len(served), len(built))
	}
}

// TestTileCache serves a tile twice: the second comes from the cache (the
// metrics say so) with the same bytes, gzip-encoded for clients that take
// it and plain for those that do not; a scoring run (a new data version)
// makes the next request build the tile again, with the new figures; and
// a small cache stays within its bound.
func TestTileCache(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	x, y := postgres.LonLatToTile(113.4998, -7.8094, 12)
	path := fmt.Sprintf("%s/tiles/villages/12/%d/%d.mvt?month=8", srv.URL, x, y)
	metric := func(name string) float64 { return metricValue(t, srv.URL, name) }
	r1, plain := get(t, path)
	misses := metric("riskmap_tile_cache_misses_total")
	r2, gz := get(t, path, "Accept-Encoding", "gzip")
	r3, plain2 := get(t, path)
	if hits := metric("riskmap_tile_cache_hits_total"); hits < 2 || metric("riskmap_tile_cache_misses_total") != misses {
		t.Errorf("the second and third requests were not served from the cache: %v hits", hits)
	}
	if r1.StatusCode != 200 || len(plain) == 0 || r1.Header.Get("Content-Encoding") != "" || !bytes.Equal(plain, plain2) || r3.Header.Get("Content-Encoding") != "" {
		t.Errorf("plain tile: %d, %d bytes, encoding %q", r1.StatusCode, len(plain), r1.Header.Get("Content-Encoding"))
	}
	if r2.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("a gzip client got encoding %q", r2.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if !bytes.Equal(unz, plain) {
		t.Errorf("the gzip tile is not the plain tile (%d vs %d bytes)", len(unz), len(plain))
	}
	// A small tile (a deep kabupaten tile of a few hundred bytes) is kept
	// and sent as built, to every client, and decodes as a tile.
	kx, ky := postgres.LonLatToTile(113.4998, -7.8094, 14)
	kpath := fmt.Sprintf("%s/tiles/kabupaten/14/%d/%d.mvt", srv.URL, kx, ky)
	for i := 0; i < 2; i++ { // built, then from the cache
		k1, kplain := get(t, kpath)
		k2, kgz := get(t, kpath, "Accept-Encoding", "gzip")
		if len(kplain) == 0 || len(kplain) >= 1024 || k1.Header.Get("Content-Encoding") != "" || k2.Header.Get("Content-Encoding") != "" || !bytes.Equal(kplain, kgz) {
			t.Errorf("small tile: %d and %d bytes, encodings %q and %q", len(kplain), len(kgz), k1.Header.Get("Content-Encoding"), k2.Header.Get("Content-Encoding"))
		}
		if layers, err := mvt.Unmarshal(kplain); err != nil || len(layers) != 1 || len(layers[0].Features) == 0 {
			t.Errorf("small tile: %v, %d layers", err, len(layers))
		}
	}
	// With the cache off, a tile is compressed only for a client that
	// takes gzip: both get the same tile.
	off := serve(t, db, httpapi.Options{TileCacheBytes: -1})
	opath := strings.Replace(path, srv.URL, off.URL, 1)
	o1, oplain := get(t, opath)
	o2, ogz := get(t, opath, "Accept-Encoding", "gzip")
	if o1.Header.Get("Content-Encoding") != "" || o2.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(oplain, plain) {
		t.Errorf("cache off: encodings %q and %q, plain tile %d bytes against %d", o1.Header.Get("Content-Encoding"), o2.Header.Get("Content-Encoding"), len(oplain), len(plain))
	}
	if zr, err := gzip.NewReader(bytes.NewReader(ogz)); err != nil {
		t.Errorf("cache off, gzip client: %v", err)
	} else if unz, _ := io.ReadAll(zr); !bytes.Equal(unz, plain) {
		t.Errorf("cache off: the gzip tile is not the plain tile")
	}
	// A new scoring run: the tile is built again, from the new run.
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `UPDATE area_public SET tier = 'high', score = 99 WHERE level = 'desa' AND code = '35.13.13.2003'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO import_run (kind, file, started_at, inserted, updated, repaired, rejected) VALUES ('calendar', 'test', now(), 0, 0, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(httpapi.VersionTTL + 100*time.Millisecond)
	_, fresh := get(t, path)
	if bytes.Equal(fresh, plain) || metric("riskmap_tile_cache_misses_total") <= misses {
		t.Errorf("after a new data version the cached tile was served again")
	}
	// The bound.
	const bound = 16 << 10
	small := serve(t, db, httpapi.Options{TileCacheBytes: bound})
	for z := 10; z <= 14; z++ {
		for dx := -2; dx <= 2; dx++ {
			for dy := -2; dy <= 2; dy++ {
				x, y := postgres.LonLatToTile(113.4998, -7.8094, z)
				get(t, fmt.Sprintf("%s/tiles/villages/%d/%d/%d.mvt", small.URL, z, x+dx, y+dy))
			}
		}
	}
	_, b := get(t, small.URL+"/metrics")
	var held, evicted float64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "riskmap_tile_cache_bytes "); ok {
			fmt.Sscan(v, &held)
		}
		if v, ok := strings.CutPrefix(line, "riskmap_tile_cache_evictions_total "); ok {
			fmt.Sscan(v, &evicted)
		}
	}
	if held > bound || held == 0 || evicted == 0 {
		t.Errorf("a %d-byte cache holds %v bytes after %v evictions", bound, held, evicted)
	}
}

// TestPageCache: a public GeoJSON page is served again from the cache, the
// same bytes plain and gzip; a new data version builds it again; household
// pages are never kept, and every one of them is audited.
func TestPageCache(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	metric := func(name string) float64 { return metricValue(t, srv.URL, name) }
	path := srv.URL + "/collections/villages/items?limit=20&properties=name,tier,score"
	r1, first := get(t, path)
	misses := metric("riskmap_page_cache_misses_total")
	r2, again := get(t, path)
	r3, gz := get(t, path, "Accept-Encoding", "gzip")
	if hits := metric("riskmap_page_cache_hits_total"); hits < 2 || metric("riskmap_page_cache_misses_total") != misses {
		t.Errorf("the second and third requests were not served from the cache: %v hits, misses %v then %v", hits, misses, metric("riskmap_page_cache_misses_total"))
	}
	if r1.StatusCode != 200 || r2.StatusCode != 200 || !bytes.Equal(first, again) || r2.Header.Get("Content-Type") != r1.Header.Get("Content-Type") ||
		r2.Header.Get("Content-Crs") != r1.Header.Get("Content-Crs") || r2.Header.Get("Content-Crs") == "" {
		t.Errorf("the kept page differs from the first: %d %q %q, %d bytes against %d", r2.StatusCode, r2.Header.Get("Content-Type"), r2.Header.Get("Content-Crs"), len(again), len(first))
	}
	if r3.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("a gzip client got encoding %q", r3.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if unz, _ := io.ReadAll(zr); !bytes.Equal(unz, first) {
		t.Errorf("the gzip page is not the plain page")
	}
	// Another page (other parameters) is its own entry.
	if _, other := get(t, srv.URL+"/collections/villages/items?limit=20&properties=name"); bytes.Equal(other, first) {
		t.Errorf("a page with other properties was served the kept page")
	}
	// A new data version: the page is built again, from the new figures.
	if _, err := db.Pool.Exec(ctx, `UPDATE village SET name = 'Desa Baru' WHERE code = (SELECT min(code) FROM village)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO import_run (kind, file, started_at, inserted, updated, repaired, rejected) VALUES ('boundaries', 'test', now(), 0, 1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(httpapi.VersionTTL + 100*time.Millisecond)
	if _, fresh := get(t, path); !strings.Contains(string(fresh), "Desa Baru") {
		t.Errorf("after a new data version the kept page was served again")
	}
	// Household pages are never kept, and each one is audited.
	admin, _, err := db.CreateKey(ctx, "page cache admin", "admin", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	entries := metric("riskmap_page_cache_entries")
	var audited0, audited1 int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE route = '/collections/households/items'`).Scan(&audited0)
	for i := 0; i < 3; i++ {
		if resp, _ := get(t, srv.URL+"/collections/households/items?limit=5", "Authorization", "Bearer "+admin); resp.StatusCode != 200 {
			t.Fatalf("households as an admin: %d", resp.StatusCode)
		}
	}
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE route = '/collections/households/items'`).Scan(&audited1)
	if metric("riskmap_page_cache_entries") != entries || audited1-audited0 != 3 {
		t.Errorf("household pages: cache entries %v then %v, %d audited of 3", entries, metric("riskmap_page_cache_entries"), audited1-audited0)
	}
}

// metricValue reads one Prometheus metric of a server from /metrics.
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	_, b := get(t, base+"/metrics")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRenderedTiles: the low-zoom tiles a scoring run renders ahead
// (RenderTiles) are the tiles the service would build, byte for byte; the
// service serves them from the render table; and a rendered tile is never
// served once what it was built from changes (the map generation) or once
// the code that builds it changes (the recipe).
func TestRenderedTiles(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t, httpapi.Options{TileCacheBytes: -1})
	ctx := context.Background()
	type tile struct {
		layer          string
		z, x, y, month int
	}
	// The annual tiles and the map page's opening month (the calendar's
	// peak) are rendered; another month is not.
	months, err := db.RenderedMonths(ctx)
	if err != nil || len(months) < 2 || months[0] != 0 {
		t.Fatalf("months rendered: %v (%v), want 0 and the peak", months, err)
	}
	other := 1
	for slices.Contains(months, other) {
		other++
	}
	rows, err := db.Pool.Query(ctx, `SELECT CASE layer WHEN 'desa' THEN 'villages' ELSE layer END, z, x, y FROM (SELECT DISTINCT layer, z, x, y FROM tile_piece
		WHERE layer IN ('desa', 'kecamatan', 'kabupaten') AND z <= $1) p ORDER BY 1, 2, 3, 4`, postgres.RenderedMaxZoom)
	if err != nil {
		t.Fatal(err)
	}
	var tiles []tile
	for rows.Next() {
		var tl tile
		if err := rows.Scan(&tl.layer, &tl.z, &tl.x, &tl.y); err != nil {
			t.Fatal(err)
		}
		if tl.z >= postgres.TileLayers[tl.layer].MinZoom {
			for _, m := range months {
				tl.month = m
				tiles = append(tiles, tl)
			}
		}
	}
	if rows.Err() != nil || len(tiles) < 40 {
		t.Fatalf("%d tiles to render (%v)", len(tiles), rows.Err())
	}
	path := func(tl tile) string {
		p := fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt", srv.URL, tl.layer, tl.z, tl.x, tl.y)
		if tl.month > 0 {
			p += fmt.Sprintf("?month=%d", tl.month)
		}
		return p
	}
	built := map[tile][]byte{}
	for _, tl := range tiles {
		resp, b := get(t, path(tl))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.mapbox-vector-tile" {
			t.Fatalf("GET %s = %d %s", path(tl), resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		built[tl] = b
	}
	notRendered := tiles[len(tiles)-1]
	notRendered.month = other
	_, built[notRendered] = get(t, path(notRendered))
	st, err := db.RenderTiles(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tiles != len(tiles) || st.Bytes == 0 {
		t.Fatalf("rendered %d tiles (%d bytes); the layers hold %d at zooms up to %d", st.Tiles, st.Bytes, len(tiles), postgres.RenderedMaxZoom)
	}
	time.Sleep(httpapi.VersionTTL + 100*time.Millisecond)
	for _, tl := range append(tiles, notRendered) {
		if _, b := get(t, path(tl)); !bytes.Equal(b, built[tl]) {
			t.Errorf("rendered %v: %d bytes, built on request %d", tl, len(b), len(built[tl]))
		}
	}
	var rendered int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM tile_render WHERE month = $1`, other).Scan(&rendered); err != nil || rendered != 0 {
		t.Errorf("%d tiles rendered for month %d, not the peak (%v)", rendered, other, err)
	}
	// Every layer was rendered in full at one generation: a tile of its
	// rendered zooms with no row holds no area and is answered empty from
	// the layer's row, with no query of its own (seen here by taking a
	// rendered tile's row away).
	var complete int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM tile_render_layer WHERE generation = (SELECT generation FROM map_state)`).Scan(&complete); err != nil || complete != 3*len(months) {
		t.Fatalf("%d layers and months rendered in full at the current generation (%v), want %d", complete, err, 3*len(months))
	}
	gone := tiles[0]
	if _, err := db.Pool.Exec(ctx, `DELETE FROM tile_render WHERE layer = $1 AND z = $2 AND x = $3 AND y = $4`, gone.layer, gone.z, gone.x, gone.y); err != nil {
		t.Fatal(err)
	}
	if _, b := get(t, path(gone)); len(b) != 0 || len(built[gone]) == 0 {
		t.Errorf("a tile missing from a complete layer: %d bytes (built %d), want it answered empty", len(b), len(built[gone]))
	}
	// Served from the table: a marked row comes back as it is.
	at := tiles[len(tiles)/2]
	c := collection(t, at.layer)
	marker := []byte("\x1a\x00marker")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(marker)
	zw.Close()
	if _, err := db.Pool.Exec(ctx, `UPDATE tile_render SET gz = $5 WHERE layer = $1 AND z = $2 AND x = $3 AND y = $4`, at.layer, at.z, at.x, at.y, gz.Bytes()); err != nil {
		t.Fatal(err)
	}
	if _, b := get(t, path(at)); !bytes.Equal(b, marker) {
		t.Fatalf("the tile %v was not read from tile_render (%d bytes)", at, len(b))
	}
	// Another recipe (a release of riskmap that builds tiles otherwise):
	// built on request.
	if _, err := db.Pool.Exec(ctx, `UPDATE tile_render SET recipe = 'older' WHERE layer = $1 AND z = $2 AND x = $3 AND y = $4`, at.layer, at.z, at.x, at.y); err != nil {
		t.Fatal(err)
	}
	if _, b := get(t, path(at)); !bytes.Equal(b, built[at]) {
		t.Errorf("a tile of another recipe was served (%d bytes)", len(b))
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE tile_render SET recipe = $5 WHERE layer = $1 AND z = $2 AND x = $3 AND y = $4`, at.layer, at.z, at.x, at.y, postgres.Recipe(c)); err != nil {
		t.Fatal(err)
	}
	if _, b := get(t, path(at)); !bytes.Equal(b, marker) {
		t.Fatalf("the restored recipe's tile was not served")
	}
	// The published figures change (as a scoring run changes them): the
	// rendered tile is stale and the service builds the new one.
	if _, err := db.Pool.Exec(ctx, `UPDATE area_public SET score = coalesce(score, 0) + 1 WHERE level = CASE $1 WHEN 'villages' THEN 'desa' ELSE $1 END`, at.layer); err != nil {
		t.Fatal(err)
	}
	time.Sleep(httpapi.VersionTTL + 100*time.Millisecond)
	want, err := db.Tile(ctx, c, at.z, at.x, at.y, at.month)
	if err != nil {
		t.Fatal(err)
	}
	if _, b := get(t, path(at)); !bytes.Equal(b, want) || bytes.Equal(b, built[at]) {
		t.Errorf("after the figures changed the tile %v is %d bytes; built now %d, before %d", at, len(b), len(want), len(built[at]))
	}
	// Rendering again serves the new figures from the table, and leaves no
	// row of an older generation.
	if _, err := db.RenderTiles(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var stale int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM tile_render WHERE generation <> (SELECT generation FROM map_state)`).Scan(&stale); err != nil || stale != 0 {
		t.Errorf("%d rows of an older generation kept (%v)", stale, err)
	}
	time.Sleep(httpapi.VersionTTL + 100*time.Millisecond)
	if _, b := get(t, path(at)); !bytes.Equal(b, want) {
		t.Errorf("the tile rendered again is not the tile built now")
	}
}

func collection(t *testing.T, id string) *postgres.Collection {
	t.Helper()
	for _, c := range postgres.Collections() {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no collection %q", id)
	return nil
}

// TestTilePiecesMoved rewrites tile_piece under a running service (CLUSTER
// on another index moves every row without cutting the pieces again, so
// their stamp stays):
// the service, which reads a deep tile's pieces by the ctids its piece set
// keeps, still serves the tile as PostGIS builds it, counts the moved
// pieces once (riskmap_tile_pieces_moved_total), reads the set again, and
// then finds the pieces where they now are. An interior tile is then
// served from memory alone.
func TestTilePiecesMoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, url := dbtest.NewDemo(t)
	if _, err := db.RenderTiles(ctx, 2); err != nil { // the tile properties, current
		t.Fatal(err)
	}
	restricted, err := postgres.OpenAs(ctx, url, postgres.ServeRole, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restricted.Close)
	srv := serveStarted(t, restricted, httpapi.Options{TileCacheBytes: -1})
	metric := func(name string) float64 { return metricValue(t, srv.URL, name) }
	var villages *postgres.Collection
	for _, c := range postgres.Collections() {
		if c.ID == "villages" {
			villages = c
		}
	}
	var x, y int
	if err := db.Pool.QueryRow(ctx, `SELECT x, y FROM tile_piece WHERE layer = 'desa' AND z = 13 GROUP BY x, y ORDER BY count(*) DESC, x, y LIMIT 1`).Scan(&x, &y); err != nil {
		t.Fatal(err)
	}
	want, err := db.Tile(ctx, villages, 13, x, y, 0)
	if err != nil || len(want) == 0 {
		t.Fatalf("tile 13/%d/%d: %d bytes, %v", x, y, len(want), err)
	}
	tile := fmt.Sprintf("%s/tiles/villages/13/%d/%d.mvt", srv.URL, x, y)
	check := func(when string) {
		t.Helper()
		if resp, body := get(t, tile); resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("%s: %d, %d bytes, want the %d PostGIS builds", when, resp.StatusCode, len(body), len(want))
		}
	}
	ready := func(when string) {
		t.Helper()
		for i := 0; metric("riskmap_tile_layers_ready") != 4; i++ {
			if i == 300 {
				t.Fatalf("%s: riskmap_tile_layers_ready is %v after 30 s, want 4", when, metric("riskmap_tile_layers_ready"))
			}
			check(when)
			time.Sleep(100 * time.Millisecond)
		}
	}
	ready("at the start")
	ctids := func() string {
		var s string
		if err := db.Pool.QueryRow(ctx, `SELECT array_agg(ctid ORDER BY code)::text FROM tile_piece WHERE layer = 'desa' AND (z, x, y) = (13, $1, $2)`, x, y).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := ctids()
	// In another order than the key's, which the pieces are already in.
	if _, err := db.Pool.Exec(ctx, `CREATE INDEX tile_piece_by_code ON tile_piece (code, z, x, y);
		CLUSTER tile_piece USING tile_piece_by_code; DROP INDEX tile_piece_by_code`); err != nil {
		t.Fatal(err)
	}
	if after := ctids(); after == before {
		t.Fatalf("CLUSTER left the tile's pieces where they were: %s", after)
	}
	for i := 0; metric("riskmap_tile_pieces_moved_total") == 0; i++ {
		if i == 300 {
			t.Fatal("the pieces moved, and after 30 s of requests the service has not noticed")
		}
		check("after CLUSTER")
		time.Sleep(100 * time.Millisecond)
	}
	ready("after the pieces moved")
	for range 5 {
		check("with the set read again")
	}
	if n := metric("riskmap_tile_pieces_moved_total"); n != 1 {
		t.Errorf("riskmap_tile_pieces_moved_total = %v once the set was read again, want 1", n)
	}

	// An interior tile (its one piece the whole tile) is built from memory
	// alone: with tile_piece out of the service's reach it is still served,
	// byte for byte, while a tile that needs its pieces is not.
	var kabupaten *postgres.Collection
	for _, c := range postgres.Collections() {
		if c.ID == "kabupaten" {
			kabupaten = c
		}
	}
	var ix, iy int
	if err := db.Pool.QueryRow(ctx, `SELECT x, y FROM tile_piece WHERE layer = 'kabupaten' AND z = 14
		GROUP BY x, y HAVING count(*) = 1 AND bool_and(ST_AsBinary(geom) = ST_AsBinary($1::geometry)) ORDER BY x, y LIMIT 1`,
		postgres.InteriorSquare).Scan(&ix, &iy); err != nil {
		t.Fatal(err)
	}
	inner, err := db.Tile(ctx, kabupaten, 14, ix, iy, 0)
	if err != nil || len(inner) == 0 {
		t.Fatalf("interior tile 14/%d/%d: %d bytes, %v", ix, iy, len(inner), err)
	}
	if _, err := db.Pool.Exec(ctx, `REVOKE SELECT ON tile_piece FROM `+postgres.ServeRole); err != nil {
		t.Fatal(err)
	}
	if resp, body := get(t, fmt.Sprintf("%s/tiles/kabupaten/14/%d/%d.mvt", srv.URL, ix, iy)); resp.StatusCode != 200 || !bytes.Equal(body, inner) {
		t.Errorf("interior tile without tile_piece: %d, %d bytes, want %d", resp.StatusCode, len(body), len(inner))
	}
	if resp, _ := get(t, tile); resp.StatusCode == 200 {
		t.Errorf("a tile of pieces was served without tile_piece: the check above proves nothing")
	}
}
