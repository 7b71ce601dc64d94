package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/httpapi"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// pgTileservVillageSQL is the query pg_tileserv (v1.0, layer_table.go)
// runs for a tile of a table layer, here the village table with its
// columns: ST_AsMVTGeom over ST_Transform of every intersecting row, a
// 256-pixel buffer, at most 10,000 features. Where pg_tileserv itself is
// not installed (it is neither a Debian package nor on the Go module proxy
// this machine reaches), its query is the peer.
const pgTileservVillageSQL = `SELECT ST_AsMVT(mvtgeom, 'public.village', 4096, 'geom') FROM (
	SELECT ST_AsMVTGeom(ST_Transform(ST_Force2D(t.geom), 3857), bounds.geom_clipped, 4096, 256, true) AS geom,
		t.code, t.name, t.kecamatan_code, t.kabupaten_code, t.area_m2, t.repair_note, t.imported_at
	FROM public.village t, (SELECT ST_TileEnvelope($1::int, $2::int, $3::int) AS geom_clipped) bounds
	WHERE ST_Intersects(t.geom, ST_Transform(bounds.geom_clipped, 4326))
	LIMIT 10000) mvtgeom`

// BenchmarkServeVsPeers measures riskmap beside pg_featureserv and
// pg_tileserv on one database, the rows of issue 13: the 783 villages as
// GeoJSON, 100 households 900,000 deep, 10,000 households, and village
// tiles at zooms 7 to 14, cold (riskmap without its tile and page caches;
// numberMatched is still kept per data version) and warm.
// Each row prints the median of alternating single requests (p50) and the
// requests a second of 8 concurrent clients, with the ratios.
//
// The database is RISKMAP_BENCH_URL (the 1,000,000 households of make
// bench-score) where it answers, else a test database with the real
// villages and 40,000 households. The peers are PG_FEATURESERV,
// PG_TILESERV and TEGOLA (paths to the binaries; tegola built with -tags
// 'noGpkgProvider noAzblobCache noS3Cache noRedisCache noGCSCache'), else
// pg_featureserv, pg_tileserv and tegola on PATH; a peer not found is left
// out (its rows say so), and without pg_tileserv tiles are compared with
// its query run in the database.
// Then it sweeps every tile of zoom 7-14 over the region through the cache
// and reports the process's resident memory. make bench-serve runs it.
func BenchmarkServeVsPeers(b *testing.B) {
	ctx := context.Background()
	url := os.Getenv("RISKMAP_BENCH_URL")
	var db *postgres.DB
	if url != "" {
		if d, err := postgres.Open(ctx, url); err == nil {
			db = d
		} else {
			fmt.Printf("RISKMAP_BENCH_URL does not answer (%v): a test database with 40,000 households instead\n", err)
		}
	}
	if db == nil {
		url = dbtest.URL(b)
		d, err := postgres.Open(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		db = d
		dbtest.LoadRealRegion(b, db, 40000, 20200218)
	}
	b.Cleanup(db.Close)
	// As `riskmap score` leaves it: the low zooms rendered and the tile
	// properties written (without them every deep tile is built from the
	// areas' tables, after a check that the properties are current).
	if _, err := db.RenderTiles(ctx, 2); err != nil {
		b.Fatal(err)
	}
	var households int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM household`).Scan(&households); err != nil {
		b.Fatal(err)
	}
	admin, _, err := db.CreateKey(ctx, "peer benchmark", "admin", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Pool.Exec(ctx, `UPDATE api_key SET revoked_at = now() WHERE name = 'peer benchmark'`) })
	// Both started as `riskmap serve` starts: holding the tile coverage
	// and properties before the first request (the database stays cold).
	cold := serveStarted(b, db, httpapi.Options{TileCacheBytes: -1, PageCacheBytes: -1})
	warm := serveStarted(b, db, httpapi.Options{})
	fs := startPeer(b, peerBin("PG_FEATURESERV", "pg_featureserv"), url, "127.0.0.1:9711",
		"PGFS_SERVER_HTTPHOST=127.0.0.1", "PGFS_SERVER_HTTPPORT=9711", "PGFS_PAGING_LIMITMAX=10000")
	ts := startPeer(b, peerBin("PG_TILESERV", "pg_tileserv"), url, "127.0.0.1:9712",
		"TS_HTTPHOST=127.0.0.1", "TS_HTTPPORT=9712")
	tg := startTegola(b, peerBin("TEGOLA", "tegola"), url, "127.0.0.1:9713")
	fmt.Printf("database: %d households, 783 villages; pg_featureserv: %s; pg_tileserv: %s; tegola: %s\n", households, orNone(fs), orNone(ts), orNone(tg))

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	auth := map[string]string{cold.URL: "Bearer " + admin, warm.URL: "Bearer " + admin}
	fetch := func(u string) time.Duration {
		req, _ := http.NewRequest("GET", u, nil)
		// Asks for gzip, as browsers and GIS clients do, and reads the bytes
		// as sent, as wrk does: the time is the server's and the wire's, not
		// the client's unpacking.
		req.Header.Set("Accept-Encoding", "gzip")
		for base, a := range auth {
			if strings.HasPrefix(u, base) && strings.Contains(u, "/households/") {
				req.Header.Set("Authorization", a)
			}
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", u, resp.StatusCode)
		}
		return time.Since(t0)
	}
	// p50 of n rounds, each request of every server in turn; rate: 8
	// clients for a second on each server in turn.
	p50 := func(n int, urls ...[]string) []float64 {
		times := make([][]time.Duration, len(urls))
		for i := 0; i < n; i++ {
			for j, us := range urls {
				times[j] = append(times[j], fetch(us[i%len(us)]))
			}
		}
		out := make([]float64, len(urls))
		for j, d := range times {
			out[j] = median(d)
		}
		return out
	}
	rate := func(us []string) float64 {
		var done atomic.Int64
		stop := time.Now().Add(time.Second)
		var wg sync.WaitGroup
		for c := 0; c < 8; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for k := c; time.Now().Before(stop); k++ {
					fetch(us[k%len(us)])
					done.Add(1)
				}
			}(c)
		}
		wg.Wait()
		return float64(done.Load())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fmt.Printf("\n%-38s %10s %10s %9s %9s %9s %9s\n", "request", "peer p50", "ours p50", "peer/ours", "peer r/s", "ours r/s", "ours/peer")
		row := func(name string, n int, peer, ours []string) {
			if len(peer) == 0 || peer[0] == "" {
				t := p50(n, ours)
				fmt.Printf("%-38s %10s %8.1fms %9s %9s %9.1f %9s\n", name, "-", t[0], "-", "-", rate(ours), "-")
				return
			}
			t := p50(n, peer, ours)
			rp, ro := rate(peer), rate(ours)
			fmt.Printf("%-38s %8.1fms %8.1fms %9.2f %9.1f %9.1f %9.2f\n", name, t[0], t[1], t[0]/t[1], rp, ro, ro/rp)
		}
		fsURL := func(path string) []string {
			if fs == "" {
				return nil
			}
			return []string{fs + path}
		}
		row("783 villages GeoJSON (code, name)", 15, fsURL("/collections/public.village/items.json?limit=1000&properties=code,name"),
			[]string{cold.URL + "/collections/villages/items?limit=1000&properties=code,name"})
		row("  the same, page cache on", 15, fsURL("/collections/public.village/items.json?limit=1000&properties=code,name"),
			[]string{warm.URL + "/collections/villages/items?limit=1000&properties=code,name"})
		deep := households * 9 / 10
		row("100 households, the first page", 7, fsURL("/collections/public.household/items.json?limit=100"),
			[]string{cold.URL + "/collections/households/items?limit=100"})
		row(fmt.Sprintf("100 households at offset %d", deep), 7, fsURL(fmt.Sprintf("/collections/public.household/items.json?limit=100&offset=%d", deep)),
			[]string{fmt.Sprintf("%s/collections/households/items?limit=100&offset=%d", cold.URL, deep)})
		// The same depth by a next link (after= the key before it), as GDAL
		// and QGIS page: pg_featureserv has only offsets.
		var key int64
		if err := db.Pool.QueryRow(ctx, `SELECT id FROM household ORDER BY id OFFSET $1 LIMIT 1`, deep-1).Scan(&key); err != nil {
			b.Fatal(err)
		}
		row(fmt.Sprintf("100 households by next link, %d deep", deep), 7, fsURL(fmt.Sprintf("/collections/public.household/items.json?limit=100&offset=%d", deep)),
			[]string{fmt.Sprintf("%s/collections/households/items?limit=100&after=%d", cold.URL, key)})
		row("10,000 households (admin)", 7, fsURL("/collections/public.household/items.json?limit=10000"),
			[]string{cold.URL + "/collections/households/items?limit=10000"})

		minLon, minLat, maxLon, maxLat := dbtest.VillageExtent(b, db)
		fmt.Printf("\n%-4s %5s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "zoom", "tiles", "peer ms", "tegola ms", "cold ms", "warm ms",
			"peer/cold", "tegola/c", "peer/warm", "peer r/s", "tegola r/s", "cold r/s", "warm r/s", "cold/peer")
		for z := postgres.TileLayers["villages"].MinZoom; z <= 14; z++ {
			var peer, teg, c, w []string
			for _, t := range regionTiles(minLon, minLat, maxLon, maxLat, z, 24) {
				if ts != "" {
					peer = append(peer, fmt.Sprintf("%s/public.village/%d/%d/%d.pbf", ts, z, t[0], t[1]))
				}
				if tg != "" {
					teg = append(teg, fmt.Sprintf("%s/maps/riskmap/village/%d/%d/%d.pbf", tg, z, t[0], t[1]))
				}
				c = append(c, fmt.Sprintf("%s/tiles/villages/%d/%d/%d.mvt?month=8", cold.URL, z, t[0], t[1]))
				w = append(w, fmt.Sprintf("%s/tiles/villages/%d/%d/%d.mvt?month=8", warm.URL, z, t[0], t[1]))
			}
			for _, u := range w {
				fetch(u) // fills the cache
			}
			if ts != "" {
				lists := [][]string{peer, c, w}
				if tg != "" {
					lists = append(lists, teg)
				}
				r := p50(len(c), lists...)
				tp, c0, w0 := r[0], r[1], r[2]
				tt, rt := math.NaN(), math.NaN()
				if tg != "" {
					tt, rt = r[3], rate(teg)
				}
				rp := rate(peer)
				rc, rw := rate(c), rate(w)
				fmt.Printf("%-4d %5d %9.2f %9.2f %9.2f %9.3f %9.2f %9.2f %9.1f %9.1f %9.1f %9.1f %9.1f %9.2f\n", z, len(c), tp, tt, c0, w0, tp/c0, tt/c0, tp/w0, rp, rt, rc, rw, rc/rp)
				continue
			}
			var tp float64
			// No pg_tileserv: its query, run in the database, is the peer.
			var sqlTimes []time.Duration
			for _, t := range regionTiles(minLon, minLat, maxLon, maxLat, z, 24) {
				t0 := time.Now()
				var out []byte
				if err := db.Pool.QueryRow(ctx, pgTileservVillageSQL, z, t[0], t[1]).Scan(&out); err != nil {
					b.Fatal(err)
				}
				sqlTimes = append(sqlTimes, time.Since(t0))
			}
			tp = median(sqlTimes)
			r := p50(len(c), c, w)
			fmt.Printf("%-4d %5d %9.2f %9.2f %9.3f %9.2f %9.1f %9s %9.1f %9.1f %9s\n", z, len(c), tp, r[0], r[1], tp/r[0], tp/r[1], "-", rate(c), rate(w), "-")
		}
		if ts == "" {
			fmt.Println("(no pg_tileserv: the peer is its query, run in the database without HTTP)")
		}
	}
	b.StopTimer()
	fmt.Println("(riskmap tiles carry the published scores, tiers and the month's seasonal score, which the peer's do not; riskmap's households carry scores and children counts)")
	// Memory: every village tile of zoom 8-14 over the region, through the cache.
	minLon, minLat, maxLon, maxLat := dbtest.VillageExtent(b, db)
	before := rss()
	n := 0
	for z := postgres.TileLayers["villages"].MinZoom; z <= 14; z++ {
		for _, t := range regionTiles(minLon, minLat, maxLon, maxLat, z, 0) {
			fetch(fmt.Sprintf("%s/tiles/villages/%d/%d/%d.mvt?month=8", warm.URL, z, t[0], t[1]))
			n++
		}
	}
	_, m := get(&testing.T{}, warm.URL+"/metrics")
	var held string
	for _, line := range strings.Split(string(m), "\n") {
		if strings.HasPrefix(line, "riskmap_tile_cache_bytes ") || strings.HasPrefix(line, "riskmap_tile_cache_entries ") {
			held += strings.TrimPrefix(line, "riskmap_") + "; "
		}
	}
	fmt.Printf("sweep of zoom 8-14: %d tiles; resident memory %d MB before, %d MB after (bound %d MB); %s\n",
		n, before>>20, rss()>>20, httpapi.DefaultTileCacheBytes>>20, held)
}

// regionTiles returns the tiles of zoom z over a box, every one (want 0)
// or about want of them spread over it.
func regionTiles(minLon, minLat, maxLon, maxLat float64, z, want int) [][2]int {
	x0, y0 := postgres.LonLatToTile(minLon, maxLat, z)
	x1, y1 := postgres.LonLatToTile(maxLon, minLat, z)
	n := (x1 - x0 + 1) * (y1 - y0 + 1)
	step := 1
	if want > 0 {
		step = max(1, n/want)
	}
	var out [][2]int
	for k := 0; k < n; k += step {
		out = append(out, [2]int{x0 + k%(x1-x0+1), y0 + k/(x1-x0+1)})
	}
	return out
}

func median(d []time.Duration) float64 {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return float64(d[len(d)/2].Microseconds()) / 1000
}

func orNone(s string) string {
	if s == "" {
		return "not found (left out)"
	}
	return s
}

// peerBin is the path of a peer server: the environment variable's, else
// the name on PATH, else "".
func peerBin(env, name string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, _ := exec.LookPath(name)
	return p
}

// rss is the process's resident set size in bytes (Linux).
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}

// startPeer starts a peer server (pg_featureserv, pg_tileserv) on the
// database, listening on addr as its environment says, and returns its
// base URL; "" when bin is "". It runs in its source's folder, where its
// assets are, when that is beside the binary.
func startPeer(b *testing.B, bin, dbURL, addr string, env ...string) string {
	if bin == "" {
		return ""
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), "DATABASE_URL="+dbURL), env...)
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", bin, err)
	}
	return waitForPeer(b, cmd, "http://"+addr, "/")
}

// waitForPeer stops cmd when the benchmark ends and returns base once
// base+path answers.
func waitForPeer(b *testing.B, cmd *exec.Cmd, base, path string) string {
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 50; i++ {
		if resp, err := http.Get(base + path); err == nil {
			resp.Body.Close()
			return base
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Fatalf("%s did not start", cmd.Path)
	return ""
}

// startTegola runs tegola (its PostGIS provider, no cache) over the same
// village table pg_tileserv serves, with the same columns, and returns its
// base URL; "" without a binary.
func startTegola(b *testing.B, bin, dbURL, addr string) string {
	if bin == "" {
		return ""
	}
	conf := filepath.Join(b.TempDir(), "tegola.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[webserver]
port = %q

[[providers]]
name = "pg"
type = "postgis"
uri = %q
srid = 4326

[[providers.layers]]
name = "village"
geometry_type = "MultiPolygon"
srid = 4326
sql = "SELECT ST_AsBinary(geom) AS geom, code, name, kecamatan_code, kabupaten_code FROM village WHERE geom && !BBOX!"

[[maps]]
name = "riskmap"

[[maps.layers]]
provider_layer = "pg.village"
min_zoom = 8
max_zoom = 22
`, addr, dbURL)), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", conf, "--no-cache")
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", bin, err)
	}
	return waitForPeer(b, cmd, "http://"+addr, "/capabilities")
}

// BenchmarkHouseholdsPageVsRaw serves pages of the households collection
// of a large scored database (RISKMAP_BENCH_URL, e.g. the 1,000,000
// households of make bench-score; skipped without it) as an admin, and runs
// the raw query that builds the same features (ItemsQuery.FeatureSQL, the
// rows read whole, after StartKeySQL for an offset) with its count,
// alternately; it prints both medians and
// their ratio for: 10,000 households with their children, 10,000 flat,
// and 100 at offset 900,000.
func BenchmarkHouseholdsPageVsRaw(b *testing.B) {
	url := os.Getenv("RISKMAP_BENCH_URL")
	if url == "" {
		b.Skip("RISKMAP_BENCH_URL is not set (make bench-serve sets it to the database of make bench-score)")
	}
	ctx := context.Background()
	db, err := postgres.Open(ctx, url)
	if err != nil {
		b.Skipf("no large database at RISKMAP_BENCH_URL (run make bench-score first): %v", err)
	}
	b.Cleanup(db.Close)
	admin, _, err := db.CreateKey(ctx, "page benchmark", "admin", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Pool.Exec(ctx, `UPDATE api_key SET revoked_at = now() WHERE name = 'page benchmark'`) })
	srv := serve(b, db, httpapi.Options{RatePerMinute: 0})
	var hh *postgres.Collection
	for _, c := range postgres.Collections() {
		if c.ID == "households" {
			hh = c
		}
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, c := range []struct {
		name, query string
		q           postgres.ItemsQuery
	}{
		{"10,000 with children", "limit=10000&properties=village_code,score,tier,top_tier_reason,children", postgres.ItemsQuery{Limit: 10000, Properties: []string{"village_code", "score", "tier", "top_tier_reason", "children"}}},
		{"10,000 flat", "limit=10000", postgres.ItemsQuery{Limit: 10000}},
		{"100 at offset 900,000", "limit=100&offset=900000", postgres.ItemsQuery{Limit: 100, Offset: 900000}},
	} {
		q := c.q
		q.Collection, q.Scope = hh, &postgres.Scope{All: true} // the benchmark's key is an admin's
		q.Peek = true
		var tr, ts []time.Duration
		size := int64(0)
		for i := 0; i < max(b.N, 5); i++ {
			t0 := time.Now()
			var n int
			if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+hh.From).Scan(&n); err != nil {
				b.Fatal(err)
			}
			page := &q
			if ksql, kargs, ok := q.StartKeySQL(); ok { // an offset: the key it starts at, then the page
				var k any
				if err := db.Pool.QueryRow(ctx, ksql, kargs...).Scan(&k); err != nil {
					b.Fatal(err)
				}
				page = q.StartingAt(k)
			}
			sql, args := page.FeatureSQL()
			rows, err := db.Pool.Query(ctx, sql, args...)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				_ = rows.RawValues()
			}
			rows.Close()
			tr = append(tr, time.Since(t0))
			t1 := time.Now()
			req, _ := http.NewRequest("GET", srv.URL+"/collections/households/items?"+c.query, nil)
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			size, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ts = append(ts, time.Since(t1))
		}
		med := func(d []time.Duration) float64 {
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			return float64(d[len(d)/2].Microseconds()) / 1000
		}
		r, s := med(tr), med(ts)
		fmt.Printf("households, %-22s raw %8.1f ms  served %8.1f ms  served/raw %.2f  (%.1f MB)\n", c.name+":", r, s, s/r, float64(size)/1e6)
	}
}
