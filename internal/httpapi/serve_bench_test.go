package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
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

// BenchmarkServeVsPeers serves the 783 real villages with a scored
// synthetic survey, and for every zoom from 7 to 14 a sample of tiles over
// the region: pg_tileserv's query for the same tile (or pg_tileserv itself,
// with PG_TILESERV=path), riskmap cold (no tile cache: PostGIS builds
// every tile), and riskmap warm (the cache). It prints p50 per zoom and
// the ratios, then sweeps every tile of zoom 7 to 14 over the region
// through the cache and reports the process's resident memory. make
// bench-serve runs it.
func BenchmarkServeVsPeers(b *testing.B) {
	url := dbtest.URL(b)
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	dbtest.LoadRealRegion(b, db, 40000, 20200218)
	cold := serve(b, db, httpapi.Options{TileCacheBytes: -1})
	warm := serve(b, db, httpapi.Options{})
	peer, peerName := "", "pg_tileserv's query"
	if bin := os.Getenv("PG_TILESERV"); bin != "" {
		peer, peerName = startPeer(b, bin, url, "--listen", "127.0.0.1:7800"), "pg_tileserv"
	}
	ctx := context.Background()
	var minLon, minLat, maxLon, maxLat float64
	if err := db.Pool.QueryRow(ctx, `SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM village) x`).
		Scan(&minLon, &minLat, &maxLon, &maxLat); err != nil {
		b.Fatal(err)
	}
	var ourSQL string
	for _, c := range postgres.Collections() {
		if c.ID == "villages" {
			ourSQL = postgres.TileSQL(c)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}} // asks for gzip, as browsers do
	fetch := func(u string) time.Duration {
		t0 := time.Now()
		resp, err := client.Get(u)
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
	median := func(d []time.Duration) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)/2].Microseconds()) / 1000
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fmt.Printf("%-4s %6s %10s %10s %10s %10s %10s %10s\n", "zoom", "tiles", "peer ms", "our SQL ms", "cold ms", "warm ms", "peer/cold", "peer/warm")
		for z := 7; z <= 14; z++ {
			x0, y0 := postgres.LonLatToTile(minLon, maxLat, z)
			x1, y1 := postgres.LonLatToTile(maxLon, minLat, z)
			var tiles [][2]int
			step := max(1, (x1-x0+1)*(y1-y0+1)/24) // about 24 tiles a zoom
			for n, k := 0, 0; ; k++ {
				x, y := x0+k%(x1-x0+1), y0+k/(x1-x0+1)
				if y > y1 {
					break
				}
				if k%step == 0 {
					tiles = append(tiles, [2]int{x, y})
					n++
				}
			}
			var tp, tq, tc, tw []time.Duration
			for _, t := range tiles {
				t0 := time.Now()
				if peer != "" {
					fetch(fmt.Sprintf("%s/public.village/%d/%d/%d.pbf", peer, z, t[0], t[1]))
				} else {
					var out []byte
					if err := db.Pool.QueryRow(ctx, pgTileservVillageSQL, z, t[0], t[1]).Scan(&out); err != nil {
						b.Fatal(err)
					}
				}
				tp = append(tp, time.Since(t0))
				t1 := time.Now()
				var ours []byte
				if err := db.Pool.QueryRow(ctx, ourSQL, z, t[0], t[1], 8).Scan(&ours); err != nil {
					b.Fatal(err)
				}
				tq = append(tq, time.Since(t1))
				tc = append(tc, fetch(fmt.Sprintf("%s/tiles/villages/%d/%d/%d.mvt?month=8", cold.URL, z, t[0], t[1])))
				fetch(fmt.Sprintf("%s/tiles/villages/%d/%d/%d.mvt?month=8", warm.URL, z, t[0], t[1])) // fills the cache
				tw = append(tw, fetch(fmt.Sprintf("%s/tiles/villages/%d/%d/%d.mvt?month=8", warm.URL, z, t[0], t[1])))
			}
			p, q, c, w := median(tp), median(tq), median(tc), median(tw)
			fmt.Printf("%-4d %6d %10.2f %10.2f %10.2f %10.3f %10.2f %10.1f\n", z, len(tiles), p, q, c, w, p/c, p/w)
		}
	}
	b.StopTimer()
	fmt.Printf("(peer: %s; riskmap tiles carry the published scores, tiers and the month's seasonal score, which the peer's do not)\n", peerName)
	// Memory: every tile of zoom 7-14 over the region, through the cache.
	before := rss()
	n := 0
	for z := 7; z <= 14; z++ {
		x0, y0 := postgres.LonLatToTile(minLon, maxLat, z)
		x1, y1 := postgres.LonLatToTile(maxLon, minLat, z)
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				fetch(fmt.Sprintf("%s/tiles/villages/%d/%d/%d.mvt?month=8", warm.URL, z, x, y))
				n++
			}
		}
	}
	_, m := get(&testing.T{}, warm.URL+"/metrics")
	var held string
	for _, line := range strings.Split(string(m), "\n") {
		if strings.HasPrefix(line, "riskmap_tile_cache_bytes ") || strings.HasPrefix(line, "riskmap_tile_cache_entries ") {
			held += strings.TrimPrefix(line, "riskmap_") + "; "
		}
	}
	fmt.Printf("sweep of zoom 7-14: %d tiles; resident memory %d MB before, %d MB after (bound %d MB); %s\n",
		n, before>>20, rss()>>20, httpapi.DefaultTileCacheBytes>>20, held)
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

// startPeer starts a peer server (pg_tileserv, pg_featureserv) on the
// database and returns its base URL.
func startPeer(b *testing.B, bin, dbURL string, args ...string) string {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", bin, err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + args[len(args)-1]
	for i := 0; i < 50; i++ {
		if resp, err := http.Get(base + "/index.json"); err == nil {
			resp.Body.Close()
			return base
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Fatalf("%s did not start", bin)
	return ""
}

// BenchmarkHouseholdsPageVsRaw serves pages of the households collection
// of a large scored database (RISKMAP_BENCH_URL, e.g. the 1,000,000
// households of make bench-score; skipped without it) as an admin, and runs
// the raw query that builds the same features (ItemsQuery.FeatureSQL, the
// rows read whole) with its count, alternately; it prints both medians and
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
		q.Collection = hh
		q.Peek = true
		sql, args := q.FeatureSQL()
		var tr, ts []time.Duration
		size := int64(0)
		for i := 0; i < max(b.N, 5); i++ {
			t0 := time.Now()
			var n int
			if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+hh.From).Scan(&n); err != nil {
				b.Fatal(err)
			}
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
