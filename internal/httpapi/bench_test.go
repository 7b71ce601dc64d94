package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// BenchmarkVillagesVsRawQuery serves all 783 real villages as GeoJSON through
// the real router over loopback HTTP, and runs the raw PostGIS query that
// produces the same features, alternately in one run; it reports both times
// and their ratio (aim: at most 1.2).
func BenchmarkVillagesVsRawQuery(b *testing.B) { benchVillages(b, false) }

// BenchmarkVillagesGzipVsRawQuery is the same with the response gzipped, as
// browsers and GDAL ask for it.
func BenchmarkVillagesGzipVsRawQuery(b *testing.B) { benchVillages(b, true) }

func benchVillages(b *testing.B, gzip bool) {
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
		req, _ := http.NewRequest("GET", srv.URL+"/collections/villages/items?limit=1000", nil)
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
