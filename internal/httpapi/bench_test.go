package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/cql2"
	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// BenchmarkVillagesVsRawQuery serves all 783 real villages as GeoJSON through
// the real router over loopback HTTP, and runs the raw PostGIS query that
// produces the same features, alternately in one run; it reports both times
// and their ratio (aim: at most 1.2).
func BenchmarkVillagesVsRawQuery(b *testing.B) { benchVillages(b, false, "") }

// BenchmarkFilteredVillagesVsRawQuery is the same with a CQL2 filter (a
// comparison, an IN list, a LIKE and a spatial predicate): the request's
// parsing and compiling against the raw query with the compiled filter.
func BenchmarkFilteredVillagesVsRawQuery(b *testing.B) {
	benchVillages(b, false, "kecamatan_code IN ('35.13.13','35.13.10','35.09.01') OR (name LIKE 'S%' AND area_km2 > 2) OR S_INTERSECTS(geometry, BBOX(113.0,-8.0,113.3,-7.8))")
}

// BenchmarkVillagesGzipVsRawQuery is the same with the response gzipped, as
// browsers and GDAL ask for it.
func BenchmarkVillagesGzipVsRawQuery(b *testing.B) { benchVillages(b, true, "") }

func benchVillages(b *testing.B, gzip bool, filter string) {
	db := dbtest.New(b)
	ctx := context.Background()
	dir := dbtest.SharedGeodata(b)
	for _, lv := range []struct{ level, file string }{{"kecamatan", "jatim-kecamatan.geojson"}, {"desa", "jatim-desa.geojson"}} {
		f := filepath.Join(dir, lv.file)
		areas, ps, err := ingest.ReadBoundaries(openFile(b, f), f, ingest.BoundaryOptions{Level: lv.level})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.ImportBoundaries(ctx, lv.level, f, areas, ps, postgres.ImportOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	srv := serve(b, db)
	var villages *postgres.Collection
	for _, c := range postgres.Collections() {
		if c.ID == "villages" {
			villages = c
		}
	}
	q := &postgres.ItemsQuery{Collection: villages, Limit: 1000}
	path := "/collections/villages/items?limit=1000"
	if filter != "" {
		e, err := cql2.Parse(filter)
		if err != nil {
			b.Fatal(err)
		}
		if q.Filter, err = postgres.CompileFilter(villages, e); err != nil {
			b.Fatal(err)
		}
		path += "&filter=" + url.QueryEscape(filter)
	}
	sql, args := q.FeatureSQL()
	raw := func() int {
		rows, err := db.Pool.Query(ctx, sql, args...)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n += len(rows.RawValues()[0]) + 1
		}
		if rows.Err() != nil {
			b.Fatal(rows.Err())
		}
		return n
	}
	// Without compression unless asked, as the raw query has none.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func() (*http.Response, error) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		return client.Do(req)
	}
	served := func() int {
		resp, err := get()
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return int(n)
	}
	raw()
	served() // warm both
	var tRaw, tServed time.Duration
	var size int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		raw()
		t1 := time.Now()
		size = served()
		tRaw += t1.Sub(t0)
		tServed += time.Since(t1)
	}
	b.ReportMetric(float64(tRaw.Milliseconds())/float64(b.N), "raw-ms/op")
	b.ReportMetric(float64(tServed.Milliseconds())/float64(b.N), "served-ms/op")
	b.ReportMetric(float64(tServed)/float64(tRaw), "served/raw")
	b.ReportMetric(float64(size)/1e6, "MB/response")
}

func openFile(tb testing.TB, path string) io.Reader {
	b, err := readFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func readFile(path string) (io.Reader, error) {
	f, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(f), nil
}

// BenchmarkTilesVsRawQuery requests a sample of villages tiles at zooms 8-14
// over the 783 real villages through the router, and runs the raw ST_AsMVT
// query for the same tiles, alternately; it reports the median of each, their
// ratio (aim: at most 1.2) and the size of the zoom-8 tile.
func BenchmarkTilesVsRawQuery(b *testing.B) {
	db := dbtest.New(b)
	ctx := context.Background()
	f := filepath.Join(dbtest.SharedGeodata(b), "jatim-desa.geojson")
	areas, ps, err := ingest.ReadBoundaries(openFile(b, f), f, ingest.BoundaryOptions{Level: "desa"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.ImportBoundaries(ctx, "desa", f, areas, ps, postgres.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	srv := serve(b, db)
	var villages *postgres.Collection
	for _, c := range postgres.Collections() {
		if c.ID == "villages" {
			villages = c
		}
	}
	sql := postgres.TileSQL(villages)
	type tile struct{ z, x, y int }
	var tiles []tile
	seen := map[tile]bool{}
	for i, a := range areas {
		if i%97 != 0 { // 9 villages spread over the three kabupaten
			continue
		}
		c := a.Geom.Bound().Center()
		for z := 8; z <= 14; z++ {
			x, y := postgres.LonLatToTile(c[0], c[1], z)
			if t := (tile{z, x, y}); !seen[t] {
				seen[t] = true
				tiles = append(tiles, t)
			}
		}
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	var rawTimes, servedTimes []time.Duration
	z8 := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, t := range tiles {
			t0 := time.Now()
			var body []byte
			if err := db.Pool.QueryRow(ctx, sql, t.z, t.x, t.y, 0).Scan(&body); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			resp, err := client.Get(fmt.Sprintf("%s/tiles/villages/%d/%d/%d.mvt", srv.URL, t.z, t.x, t.y))
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			servedTimes = append(servedTimes, time.Since(t1))
			rawTimes = append(rawTimes, t1.Sub(t0))
			if t.z == 8 && int(n) > z8 {
				z8 = int(n)
			}
		}
	}
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	mr, ms := median(rawTimes), median(servedTimes)
	b.ReportMetric(float64(len(tiles)), "tiles")
	b.ReportMetric(float64(mr.Microseconds())/1000, "raw-median-ms")
	b.ReportMetric(float64(ms.Microseconds())/1000, "served-median-ms")
	b.ReportMetric(float64(ms)/float64(mr), "served/raw")
	b.ReportMetric(float64(z8)/1000, "z8-tile-kB")
}
