package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/httpapi"
	"github.com/kesempatan/riskmap/internal/postgres"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// newServer serves a fresh database holding the scored demo region through
// the real router, working as the restricted role `riskmap serve` uses. It
// returns the owner's handle, for the test's own set-up and checks.
func newServer(t *testing.T, opt ...httpapi.Options) (*httptest.Server, *postgres.DB) {
	t.Helper()
	db, url := dbtest.NewDemo(t)
	restricted, err := postgres.OpenAs(context.Background(), url, postgres.ServeRole, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restricted.Close)
	return serve(t, restricted, opt...), db
}

func serve(t testing.TB, db *postgres.DB, opt ...httpapi.Options) *httptest.Server {
	o := httpapi.Options{}
	if len(opt) > 0 {
		o = opt[0]
	}
	srv, _ := startAPI(t, db, o)
	return srv
}

// startAPI serves db's API on a test server (PublicURL: the server's, if
// opt names none).
func startAPI(tb testing.TB, db *postgres.DB, opt httpapi.Options) (*httptest.Server, *httpapi.Server) {
	srv := httptest.NewServer(nil)
	tb.Cleanup(srv.Close)
	if opt.PublicURL == "" {
		opt.PublicURL = srv.URL
	}
	api := httpapi.NewServer(db, slog.New(slog.NewTextHandler(io.Discard, nil)), opt)
	srv.Config.Handler = api.Handler()
	return srv, api
}

// serveStarted is serve as `riskmap serve` starts the API: it reads the
// tile coverage and the tile properties in the background from the start
// (WarmTiles), and serveStarted returns once it holds them all
// (riskmap_tile_layers_ready: the four tile collections over areas).
func serveStarted(tb testing.TB, db *postgres.DB, opt httpapi.Options) *httptest.Server {
	tb.Helper()
	srv, api := startAPI(tb, db, opt)
	api.WarmTiles(context.Background())
	for i := 0; ; i++ {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			tb.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "\nriskmap_tile_layers_ready 4\n") {
			return srv
		}
		if i == 600 {
			tb.Fatalf("the service does not hold its tile coverage and properties after 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return send(t, "GET", url, "", header...)
}

// send makes one request with the headers given as name, value pairs and
// returns the response with its body read.
func send(t *testing.T, method, url, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip: tests see what was sent
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

// golden compares a JSON response with testdata/NAME.golden, kept indented
// so that a change shows as the lines that changed (go test -update
// rewrites it).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	buf.WriteByte('\n')
	got = buf.Bytes()
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
	if d := lineDiff(string(want), string(got), 40); d != "" {
		t.Errorf("%s differs from %s (-want +got; go test -update rewrites it):\n%s", name, path, d)
	}
}

// lineDiff returns the lines that differ between a and b, as - and + lines
// with a line of context, at most max lines; "" when they are equal. It
// aligns the lines by their longest common subsequence.
func lineDiff(a, b string, max int) string {
	if a == b {
		return ""
	}
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	n, m := len(x), len(y)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max32(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	emit := func(s string) bool {
		out = append(out, s)
		return len(out) < max
	}
	for (i < n || j < m) && len(out) < max {
		switch {
		case i < n && j < m && x[i] == y[j]:
			// Context: a same line next to a change.
			if (i+1 < n && j+1 < m && x[i+1] != y[j+1]) || (i > 0 && j > 0 && x[i-1] != y[j-1]) {
				emit(fmt.Sprintf(" %4d %s", i+1, x[i]))
			}
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			emit(fmt.Sprintf("-%4d %s", i+1, x[i]))
			i++
		default:
			emit(fmt.Sprintf("+%4d %s", j+1, y[j]))
			j++
		}
	}
	if len(out) >= max {
		out = append(out, "...")
	}
	return strings.Join(out, "\n")
}

func max32(a, b int32) int32 {
	if a > b {
		return a
	}
	return b
}

// TestLineDiff: the golden files' diff shows the changed lines, aligned.
func TestLineDiff(t *testing.T) {
	a := "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}"
	b := "{\n  \"a\": 1,\n  \"b\": 5,\n  \"c\": 3,\n  \"d\": 4\n}"
	want := strings.Join([]string{"    2   \"a\": 1,", "-   3   \"b\": 2,", "-   4   \"c\": 3", "+   3   \"b\": 5,", "+   4   \"c\": 3,", "+   5   \"d\": 4", "    5 }"}, "\n")
	if got := lineDiff(a, b, 40); got != want {
		t.Errorf("lineDiff:\n%s\nwant\n%s", got, want)
	}
	if lineDiff(a, a, 40) != "" {
		t.Error("equal texts differ")
	}
}

type featureCollection struct {
	Type           string `json:"type"`
	NumberMatched  int    `json:"numberMatched"`
	NumberReturned int    `json:"numberReturned"`
	Links          []struct {
		Href, Rel, Type string
	} `json:"links"`
	Features []struct {
		ID         string         `json:"id"`
		Properties map[string]any `json:"properties"`
		Geometry   struct {
			Type string `json:"type"`
		} `json:"geometry"`
	} `json:"features"`
}

func items(t *testing.T, url string) featureCollection {
	t.Helper()
	resp, body := get(t, url)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/geo+json" {
		t.Fatalf("GET %s = %d %s: %.300s", url, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var fc featureCollection
	if err := json.Unmarshal(body, &fc); err != nil {
		t.Fatalf("GET %s: not JSON: %v", url, err)
	}
	return fc
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t)
	cases := []struct {
		path, contentType string
		status            int
		body              string // a part of the body
	}{
		{"/healthz", "application/json", 200, `"status":"ok"`},
		{"/readyz", "application/json", 200, `"status":"ready"`},
		{"/", "application/json", 200, `"rel":"service-desc"`},
		{"/?f=html", "text/html; charset=utf-8", 200, "<h1>riskmap</h1>"},
		{"/conformance", "application/json", 200, "ogcapi-features-1/1.0/conf/geojson"},
		{"/api", "application/vnd.oai.openapi+json;version=3.0", 200, `"/collections/villages/items"`},
		{"/collections", "application/json", 200, `"id":"hotspots"`},
		{"/collections/villages", "application/json", 200, `"bbox":[[113.445`},
		{"/collections/villages/items/35.13.13.2003", "application/geo+json", 200, `"name":"Alasnyiur"`},
		{"/collections/villages/items/35.13.13.2003?month=8", "application/geo+json", 200, `"seasonal_score"`},
		{"/collections/villages/items?f=html", "text/html; charset=utf-8", 200, "Alasnyiur"},
		{"/aggregates/kecamatan", "application/json", 200, `"name":"Besuk"`},
		{"/villages/35.13.13.2003/profile", "application/json", 200, `"kind":"task_force"`},
		{"/targets/villages?month=8&area=35.13.10", "application/json", 200, `"rank":1`},
		{"/metrics", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", 200, "riskmap_db_pool_max_conns"},
		// Not found.
		{"/nope", "application/problem+json", 404, `"title":"no such resource"`},
		{"/collections/households/items", "application/problem+json", 404, `collection \"households\" does not exist`},
		{"/collections/villages/items/35.13.13.9999", "application/problem+json", 404, `"parameter":"fid"`},
		{"/villages/35.13.13.9999/profile", "application/problem+json", 404, "no village 35.13.13.9999"},
		// Bad parameters: 400 naming the parameter.
		{"/collections/villages/items?bbox=1,2,3", "application/problem+json", 400, `"parameter":"bbox"`},
		{"/collections/villages/items?bbox=113,-8,200,-7", "application/problem+json", 400, "longitudes must be within -180..180"},
		{"/collections/villages/items?bbox=113,-95,114,-7", "application/problem+json", 400, "latitudes must be within -90..90"},
		{"/collections/villages/items?bbox=a,b,c,d", "application/problem+json", 400, `"parameter":"bbox"`},
		{"/collections/villages/items?limit=0", "application/problem+json", 400, `"parameter":"limit"`},
		{"/collections/villages/items?limit=-5", "application/problem+json", 400, `"parameter":"limit"`},
		{"/collections/villages/items?limit=ten", "application/problem+json", 400, `"parameter":"limit"`},
		{"/collections/villages/items?month=13", "application/problem+json", 400, `"parameter":"month"`},
		{"/collections/villages/items?colour=red", "application/problem+json", 400, `"parameter":"colour"`},
		{"/collections/villages/items?monthly=1", "application/problem+json", 400, "cannot be used as a filter"},
		{"/collections/villages/items?properties=name,shoe_size", "application/problem+json", 400, `"parameter":"properties"`},
		{"/collections/villages/items?sortby=-shoe_size", "application/problem+json", 400, `"parameter":"sortby"`},
		{"/collections/villages/items?bbox-crs=EPSG:3857", "application/problem+json", 400, `"parameter":"bbox-crs"`},
		{"/collections/villages/items?f=xml", "application/problem+json", 400, `"parameter":"f"`},
		{"/collections/plantations/items?month=8", "application/problem+json", 400, "has no seasonal values"},
		{"/aggregates/planet", "application/problem+json", 400, "want desa, kecamatan or kabupaten"},
		{"/targets/villages?month=0", "application/problem+json", 400, `"parameter":"month"`},
		{"/targets/villages?month=8&area=x'--", "application/problem+json", 400, "area"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, srv.URL+tc.path)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.contentType || !strings.Contains(string(body), tc.body) {
				t.Errorf("GET %s = %d %s %.300s; want %d %s containing %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.contentType, tc.body)
			}
			for _, leak := range []string{"SELECT", "goroutine", "pgx", "SQLSTATE"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("GET %s leaks %q: %.300s", tc.path, leak, body)
				}
			}
		})
	}
}

// TestPaging follows the next links with a small limit and gets every village once.
func TestPaging(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	seen := map[string]bool{}
	next, pages := srv.URL+"/collections/villages/items?limit=10", 0
	for next != "" {
		fc := items(t, next)
		pages++
		if fc.NumberMatched != 44 || fc.NumberReturned != len(fc.Features) {
			t.Fatalf("page %d: numberMatched %d, numberReturned %d for %d features", pages, fc.NumberMatched, fc.NumberReturned, len(fc.Features))
		}
		next = ""
		for _, l := range fc.Links {
			if l.Rel == "next" {
				next = l.Href
			}
		}
		for _, f := range fc.Features {
			if seen[f.ID] {
				t.Errorf("village %s on two pages", f.ID)
			}
			seen[f.ID] = true
		}
	}
	if len(seen) != 44 || pages != 5 {
		t.Errorf("%d villages in %d pages, want 44 in 5", len(seen), pages)
	}
	// The next links page by key (after the last id), and agree with
	// offset paging feature for feature.
	fc := items(t, srv.URL+"/collections/villages/items?limit=10")
	var nextHref string
	for _, l := range fc.Links {
		if l.Rel == "next" {
			nextHref = l.Href
		}
	}
	if !strings.Contains(nextHref, "after=") || strings.Contains(nextHref, "offset=") {
		t.Errorf("next link %s does not page by key", nextHref)
	}
	byKey := items(t, nextHref)
	byOffset := items(t, srv.URL+"/collections/villages/items?limit=10&offset=10")
	if len(byKey.Features) != 10 || len(byOffset.Features) != 10 || byKey.Features[0].ID != byOffset.Features[0].ID || byKey.Features[9].ID != byOffset.Features[9].ID {
		t.Errorf("page 2 by key %v, by offset %v", byKey.Features, byOffset.Features)
	}
	// Offsets are served through the id index (the first id of the page
	// found by an index scan, then paged by key): the same features as SQL's
	// OFFSET, past the end included, with and without a filter, on a
	// collection of joins (households, as an admin) and a plain one.
	admin, _, err := db.CreateKey(context.Background(), "paging admin", "admin", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, sql string }{
		{"/collections/villages/items?limit=5", `SELECT code FROM village ORDER BY code`},
		{"/collections/villages/items?limit=5&kecamatan_code=35.13.13", `SELECT code FROM village WHERE kecamatan_code = '35.13.13' ORDER BY code`},
		{"/collections/households/items?limit=5&properties=tier", `SELECT survey_uuid FROM household ORDER BY id`},
		{"/collections/households/items?limit=5&properties=tier&tier=high", `SELECT h.survey_uuid FROM household h JOIN household_score s ON s.household_id = h.id WHERE s.tier = 'high' ORDER BY h.id`},
	} {
		rows, err := db.Pool.Query(context.Background(), c.sql)
		if err != nil {
			t.Fatal(err)
		}
		all, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int{0, 3, len(all) / 2, len(all) - 2, len(all), len(all) + 10} {
			_, b := get(t, fmt.Sprintf("%s%s&offset=%d", srv.URL, c.path, off), "Authorization", "Bearer "+admin)
			var page struct {
				Features []struct {
					ID string `json:"id"`
				} `json:"features"`
			}
			json.Unmarshal(b, &page)
			want := all[min(off, len(all)):min(off+5, len(all))]
			var got []string
			for _, f := range page.Features {
				got = append(got, f.ID)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s offset %d: %v, want %v", c.path, off, got, want)
			}
		}
	}
	// Households page by their own key (import order): the next link's
	// page is the offset page, and an after that is no key is refused.
	var hp struct {
		Features []struct {
			ID string `json:"id"`
		} `json:"features"`
		Links []struct{ Rel, Href string } `json:"links"`
	}
	_, hb := get(t, srv.URL+"/collections/households/items?limit=5&properties=tier", "Authorization", "Bearer "+admin)
	json.Unmarshal(hb, &hp)
	next = ""
	for _, l := range hp.Links {
		if l.Rel == "next" {
			next = l.Href
		}
	}
	_, b1 := get(t, next, "Authorization", "Bearer "+admin)
	_, b2 := get(t, srv.URL+"/collections/households/items?limit=5&properties=tier&offset=5", "Authorization", "Bearer "+admin)
	var byKeyH, byOffH struct {
		Features []struct {
			ID string `json:"id"`
		} `json:"features"`
	}
	json.Unmarshal(b1, &byKeyH)
	json.Unmarshal(b2, &byOffH)
	if !strings.Contains(next, "after=") || len(byKeyH.Features) != 5 || fmt.Sprint(byKeyH.Features) != fmt.Sprint(byOffH.Features) {
		t.Errorf("households page 2 by key (%s) %v, by offset %v", next, byKeyH.Features, byOffH.Features)
	}
	if resp, body := get(t, srv.URL+"/collections/households/items?after=3f2a-uuid", "Authorization", "Bearer "+admin); resp.StatusCode != 400 || !strings.Contains(string(body), "after") {
		t.Errorf("households after a non-key: %d %s", resp.StatusCode, body)
	}
	// numberMatched is counted once per data version and kept: an erasure
	// is a new version, and the count follows it.
	matched := func() int {
		_, b := get(t, srv.URL+"/collections/households/items?limit=1&properties=tier", "Authorization", "Bearer "+admin)
		var fc struct {
			NumberMatched int `json:"numberMatched"`
		}
		json.Unmarshal(b, &fc)
		return fc.NumberMatched
	}
	before := matched()
	if _, err := db.EraseHousehold(context.Background(), postgres.Erasure{UUID: hp.Features[0].ID, By: "paging test", Reason: "count cache", Kind: "request"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(httpapi.VersionTTL + 100*time.Millisecond)
	if after := matched(); before < 2 || after != before-1 {
		t.Errorf("numberMatched %d before an erasure, %d after", before, after)
	}
	if resp, body := get(t, srv.URL+"/collections/villages/items?after=35.13&sortby=name"); resp.StatusCode != 400 || !strings.Contains(string(body), "after") {
		t.Errorf("after with sortby: %d %s", resp.StatusCode, body)
	}
	resp, body := get(t, srv.URL+"/collections/villages/items?limit=50000")
	if resp.Header.Get("X-Limit-Clamped") == "" || !strings.Contains(string(body), `"limitClamped":{"requested":50000,"maximum":10000}`) {
		t.Errorf("a limit above the maximum is not said to be clamped: %s %.200s", resp.Header.Get("X-Limit-Clamped"), body)
	}
}

func TestFiltersSortAndSeason(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	fc := items(t, srv.URL+"/collections/villages/items?kecamatan_code=35.13.13&sortby=-score&month=8&properties=name,score,tier,monthly")
	var besuk int
	db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM village WHERE kecamatan_code = '35.13.13'`).Scan(&besuk)
	if fc.NumberMatched != besuk || len(fc.Features) != besuk {
		t.Fatalf("kecamatan filter: %d matched, want %d", fc.NumberMatched, besuk)
	}
	last := 101.0
	for _, f := range fc.Features {
		if len(f.Properties) != 5 {
			t.Errorf("properties = %v, want name, score, tier, monthly and seasonal_score", f.Properties)
		}
		score, _ := f.Properties["score"].(float64)
		if score > last {
			t.Errorf("not sorted by descending score")
		}
		last = score
		monthly, _ := f.Properties["monthly"].([]any)
		if len(monthly) == 12 && f.Properties["seasonal_score"] != monthly[7] {
			t.Errorf("%s: seasonal_score %v, want August's %v", f.ID, f.Properties["seasonal_score"], monthly[7])
		}
	}
	high := items(t, srv.URL+"/collections/villages/items?tier=high")
	for _, f := range high.Features {
		if f.Properties["tier"] != "high" {
			t.Errorf("tier filter let through %s", f.Properties["tier"])
		}
	}
	inBox := items(t, srv.URL+"/collections/villages/items?bbox=113.49,-7.82,113.51,-7.80&bbox-crs="+url.QueryEscape(httpapi.CRS84))
	found := false
	for _, f := range inBox.Features {
		found = found || f.ID == "35.13.13.2003"
	}
	if !found || inBox.NumberMatched >= 44 {
		t.Errorf("bbox around Alasnyiur matched %d villages, found Alasnyiur: %v", inBox.NumberMatched, found)
	}
	// The main responses, whole: a change to any shows as its lines.
	for name, path := range map[string]string{
		"villages_top5":       "/collections/villages/items?limit=5&sortby=-score&properties=name,tier,score",
		"kecamatan_top3":      "/collections/kecamatan/items?limit=3&sortby=-score&properties=name,tier,score,children,hazardous",
		"village_alasnyiur":   "/collections/villages/items/35.13.13.2003?properties=name,tier,score,score_low,score_high,prevalence,status",
		"collection_villages": "/collections/villages",
	} {
		golden(t, name, []byte(strings.ReplaceAll(string(must(get(t, srv.URL+path))), srv.URL, "http://riskmap.test")))
	}
}

func must(_ *http.Response, b []byte) []byte { return b }

func TestFormatsCachingAndCompression(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, httpapi.Options{CORSOrigins: []string{"https://maps.example"}})
	resp, body := get(t, srv.URL+"/collections/villages/items?f=csv&properties=name,tier&geometry=wkt")
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(recs) != 45 || strings.Join(recs[0], ",") != "id,name,tier,wkt" {
		t.Errorf("CSV: %v, %d rows, header %v", err, len(recs), recs[0])
	}
	// Without asking, a CSV is the table, not polygons.
	_, body = get(t, srv.URL+"/collections/villages/items?f=csv&properties=name,tier")
	if recs, _ := csv.NewReader(strings.NewReader(string(body))).ReadAll(); len(recs) != 45 || strings.Join(recs[0], ",") != "id,name,tier" {
		t.Errorf("CSV without geometry=wkt: header %v", recs[0])
	}
	resp, body = get(t, srv.URL+"/collections/villages/items", "Accept", "text/csv")
	if !strings.HasPrefix(string(body), "id,code,name") {
		t.Errorf("Accept: text/csv gave %s %.80s", resp.Header.Get("Content-Type"), body)
	}
	resp, _ = get(t, srv.URL+"/collections/villages/items")
	tag := resp.Header.Get("ETag")
	if tag == "" || resp.Header.Get("Cache-Control") == "" {
		t.Fatalf("no ETag or Cache-Control: %v", resp.Header)
	}
	resp, body = get(t, srv.URL+"/collections/villages/items", "If-None-Match", tag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match with the current tag = %d, %d bytes; want 304 and no body", resp.StatusCode, len(body))
	}
	resp, _ = get(t, srv.URL+"/collections/villages/items?limit=3", "If-None-Match", tag)
	if resp.StatusCode != 200 {
		t.Errorf("another query with the same tag = %d, want 200", resp.StatusCode)
	}
	resp, body = get(t, srv.URL+"/collections/villages/items", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding: gzip answered %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	var fc featureCollection
	if err := json.Unmarshal(plain, &fc); err != nil || len(fc.Features) != 44 {
		t.Errorf("gzip body: %v, %d features", err, len(fc.Features))
	}
	resp, _ = get(t, srv.URL+"/collections", "Origin", "https://maps.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://maps.example" {
		t.Errorf("CORS for an allowed origin: %v", resp.Header)
	}
	resp, _ = get(t, srv.URL+"/collections", "Origin", "https://evil.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS let another origin in")
	}
	_, metrics := get(t, srv.URL+"/metrics")
	if !strings.Contains(string(metrics), `riskmap_http_requests_total{method="GET",route="/collections/{collection}/items",status="304"} 1`) {
		t.Errorf("metrics do not count the 304 by route:\n%.1500s", metrics)
	}
}

// TestHouseholdAccess: household records reach only staff (within their
// areas) and admins, and every household-level response is audited.
func TestHouseholdAccess(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	key := func(name, role string, areas []string, expires *time.Time) string {
		k, _, err := db.CreateKey(ctx, name, role, areas, expires)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	planner := key("bappeda", "planner", nil, nil)
	staff := key("Besuk facilitator", "staff", []string{"35.13.13"}, nil)
	admin := key("programme admin", "admin", nil, nil)
	past := time.Now().Add(-time.Hour)
	expired := key("old", "admin", nil, &past)
	revoked, k, err := db.CreateKey(ctx, "lost phone", "staff", []string{"35.13.13"}, nil)
	if err != nil || db.RevokeKey(ctx, k.ID) != nil {
		t.Fatal(err)
	}
	var besukHH, pakuniranHH string
	var besukN, allN, maskedN int
	db.Pool.QueryRow(ctx, `SELECT (SELECT min(survey_uuid) FROM household WHERE village_code LIKE '35.13.13.%'),
		(SELECT min(survey_uuid) FROM household WHERE village_code LIKE '35.13.10.%'),
		(SELECT count(*) FROM household WHERE village_code LIKE '35.13.13.%'), (SELECT count(*) FROM household),
		(SELECT count(*) FROM household_mask WHERE shown)`).
		Scan(&besukHH, &pakuniranHH, &besukN, &allN, &maskedN)
	if maskedN == allN || maskedN == 0 {
		t.Fatalf("%d of %d households in villages with published counts: the demo should have villages under the minimum sample", maskedN, allN)
	}

	cases := []struct {
		who, key, path string
		status         int
		matched        int    // for items: numberMatched, -1 to skip
		audited        bool   // the response holds household records
		prefix         string // every returned household's village code starts with this
	}{
		{"public", "", "/collections/households/items", 404, -1, false, ""},
		{"public", "", "/collections/households/items/" + besukHH, 404, -1, false, ""},
		// planners see the households of villages with published counts only
		{"planner", planner, "/collections/households/items?limit=3", 200, maskedN, true, ""},
		{"planner", planner, "/collections/households/items?village_code=35.13.10.9003", 200, 0, true, ""},
		{"planner", planner, "/collections/households/items?tier=high", 400, -1, false, ""},
		{"planner", planner, "/collections/households/items/" + besukHH, 404, -1, false, ""},
		{"planner", planner, "/collections/villages/items", 200, 44, false, ""},
		{"staff", staff, "/collections/households/items?limit=10000", 200, besukN, true, "35.13.13."},
		{"staff", staff, "/collections/households/items?village_code=35.13.10.2006", 200, 0, true, ""},
		{"staff", staff, "/collections/households/items/" + pakuniranHH, 404, -1, false, ""},
		{"staff", staff, "/collections/households/items/" + besukHH, 200, -1, true, ""},
		{"staff", staff, "/collections/households/items?f=csv&limit=5", 200, -1, true, ""},
		{"admin", admin, "/collections/households/items?limit=1", 200, allN, true, ""},
		{"admin", admin, "/collections/households/items/" + pakuniranHH, 200, -1, true, ""},
		{"public", "", "/targets/households?month=8", 404, -1, false, ""},
		{"planner", planner, "/targets/households?month=8", 404, -1, false, ""},
		{"staff", staff, "/targets/households?month=8&limit=10000", 200, -1, true, ""},
		{"staff", staff, "/targets/households?month=8&area=35.13.10", 403, -1, false, ""},
		{"admin", admin, "/targets/households?month=8&area=35.13.10", 200, -1, true, ""},
		{"expired", expired, "/collections/villages/items", 401, -1, false, ""},
		{"revoked", revoked, "/collections/households/items", 401, -1, false, ""},
		{"garbage", "rk_not-a-key-at-all", "/collections", 401, -1, false, ""},
	}
	audited := 0
	for _, tc := range cases {
		t.Run(tc.who+tc.path, func(t *testing.T) {
			var header []string
			if tc.key != "" {
				header = []string{"Authorization", "Bearer " + tc.key}
			}
			resp, body := get(t, srv.URL+tc.path, header...)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s GET %s = %d %.200s, want %d", tc.who, tc.path, resp.StatusCode, body, tc.status)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.status != 200 && !strings.HasSuffix(tc.path, besukHH) && !strings.HasSuffix(tc.path, pakuniranHH) &&
				(strings.Contains(string(body), besukHH) || strings.Contains(string(body), pakuniranHH)) {
				t.Errorf("a refusal names a household: %s", body)
			}
			if strings.HasPrefix(tc.path, "/targets/households") && resp.StatusCode == 200 {
				var tg struct {
					Targets []struct {
						ID      string `json:"id"`
						Village string `json:"village_code"`
					} `json:"targets"`
				}
				json.Unmarshal(body, &tg)
				want := map[string]string{"staff": "35.13.13.", "admin": "35.13.10."}[tc.who]
				for _, h := range tg.Targets {
					if !strings.HasPrefix(h.Village, want) {
						t.Errorf("%s's household targets include %s in %s", tc.who, h.ID, h.Village)
					}
				}
				if len(tg.Targets) == 0 {
					t.Errorf("%s got no household targets", tc.who)
				}
			}
			if tc.matched >= 0 {
				var fc featureCollection
				json.Unmarshal(body, &fc)
				if fc.NumberMatched != tc.matched {
					t.Errorf("numberMatched %d, want %d", fc.NumberMatched, tc.matched)
				}
				for _, f := range fc.Features {
					if vc, _ := f.Properties["village_code"].(string); tc.prefix != "" && !strings.HasPrefix(vc, tc.prefix) {
						t.Errorf("%s sees household %s in village %s", tc.who, f.ID, vc)
					}
				}
			}
			if resp.StatusCode == 200 && tc.key != "" && resp.Header.Get("Cache-Control") != "private, no-store" {
				t.Errorf("a keyed response may be cached publicly: %q", resp.Header.Get("Cache-Control"))
			}
			if tc.audited {
				audited++
			}
		})
	}
	// Out of area and not at all are the same answer: a 404 does not tell
	// staff that a household exists elsewhere.
	_, other := get(t, srv.URL+"/collections/households/items/"+pakuniranHH, "Authorization", "Bearer "+staff)
	_, none := get(t, srv.URL+"/collections/households/items/no-such-uuid", "Authorization", "Bearer "+staff)
	if strings.ReplaceAll(string(other), pakuniranHH, "X") != strings.ReplaceAll(string(none), "no-such-uuid", "X") {
		t.Errorf("out-of-area and missing households answer differently:\n%s\n%s", other, none)
	}
	// Staff see the children of their households; planners never do.
	_, one := get(t, srv.URL+"/collections/households/items/"+besukHH, "Authorization", "Bearer "+staff)
	if !strings.Contains(string(one), `"children":[`) || !strings.Contains(string(one), `"classification"`) && !strings.Contains(string(one), `"children":[]`) {
		t.Errorf("a staff household record lacks its children: %.300s", one)
	}
	audited++
	_, list := get(t, srv.URL+"/collections")
	_, staffList := get(t, srv.URL+"/collections", "Authorization", "Bearer "+staff)
	_, plannerPage := get(t, srv.URL+"/collections/households/items?limit=50", "Authorization", "Bearer "+planner)
	if strings.Contains(string(plannerPage), besukHH) || strings.Contains(string(plannerPage), "components") || strings.Contains(string(plannerPage), "top_tier_reason") {
		t.Error("a planner sees survey uuids, score components or child-based reasons")
	}
	audited++
	if strings.Contains(string(list), `"id":"households"`) || !strings.Contains(string(staffList), `"id":"households"`) {
		t.Error("the collections list shows households to the public or hides them from staff")
	}
	entries, err := db.AuditSince(ctx, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != audited {
		t.Errorf("%d audit rows, want %d (one per household-level response, none for others)", len(entries), audited)
	}
	for _, e := range entries {
		if e.KeyID == nil || e.Role == "public" || !(strings.HasPrefix(e.Route, "/collections/households/items") || e.Route == "/targets/households") {
			t.Errorf("audit row %+v", e)
		}
	}
	for who, k := range map[string]string{"public": "", "staff": staff, "admin": admin} {
		var h []string
		if k != "" {
			h = []string{"Authorization", "Bearer " + k}
		}
		resp, body := get(t, srv.URL+"/audit?since=1h", h...)
		if want := map[string]int{"public": 404, "staff": 404, "admin": 200}[who]; resp.StatusCode != want {
			t.Errorf("%s GET /audit = %d, want %d", who, resp.StatusCode, want)
		}
		if who == "admin" && strings.Count(string(body), `"route"`) != len(entries) {
			t.Errorf("/audit lists %d entries, the log holds %d", strings.Count(string(body), `"route"`), len(entries))
		}
	}
	if _, err := db.Pool.Exec(ctx, `DELETE FROM audit_log`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("deleting from the audit log = %v, want refused", err)
	}
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

// TestGeomasking: planners' household points stay inside their village, at
// least 100 m (and at most 500 m) from the true point, the same on every
// request; neither the point nor the id can be worked out from the survey
// uuid without the database's secret, and a new secret moves every point.
func TestGeomasking(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	planner, _, err := db.CreateKey(ctx, "bappeda", "planner", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := maskedPoints(t, srv.URL, planner), maskedPoints(t, srv.URL, planner)
	var shown int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM household h JOIN area_public a
		ON a.level = 'desa' AND a.code = h.village_code AND a.households IS NOT NULL`).Scan(&shown); err != nil {
		t.Fatal(err)
	}
	if len(a) < shown-5 || len(a) > shown {
		t.Fatalf("%d households have a masked point; %d are in villages whose counts are published", len(a), shown)
	}
	ids, lons, lats := []string{}, []float64{}, []float64{}
	for id, p := range a {
		if b[id] != p {
			t.Fatalf("household %s moved between requests: %v then %v", id, p, b[id])
		}
		ids, lons, lats = append(ids, id), append(lons, p[0]), append(lats, p[1])
	}
	var n, outside, tooNear, tooFar int
	err = db.Pool.QueryRow(ctx, `
		WITH m AS (SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[]) AS m(id, lon, lat)),
		j AS (SELECT h.geom AS true_geom, v.geom AS village, ST_SetSRID(ST_MakePoint(m.lon, m.lat), 4326) AS masked
		      FROM m JOIN household_mask hm ON hm.mask_id = m.id JOIN household h ON h.id = hm.household_id
		      JOIN village v ON v.code = h.village_code)
		SELECT count(*), count(*) FILTER (WHERE NOT ST_Covers(village, masked)),
			count(*) FILTER (WHERE ST_Distance(true_geom::geography, masked::geography) < 99.5),
			count(*) FILTER (WHERE ST_Distance(true_geom::geography, masked::geography) > 500.5)
		FROM j`, ids, lons, lats).Scan(&n, &outside, &tooNear, &tooFar)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(a) || outside != 0 || tooNear != 0 || tooFar != 0 {
		t.Errorf("%d masked points matched, %d outside their village, %d nearer than 100 m, %d farther than 500 m", n, outside, tooNear, tooFar)
	}
}

func TestGeomaskNeedsTheSecret(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	planner, _, err := db.CreateKey(ctx, "bappeda", "planner", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	points := func() map[string][2]float64 { return maskedPoints(t, srv.URL, planner) }
	before := points()
	// An attacker with every survey uuid (a KoBo export) tries the hashes
	// that need no secret: none gives a served id, and the old md5-derived
	// displacement lands nowhere near a served point.
	var idHits, near int
	err = db.Pool.QueryRow(ctx, `
		WITH served AS (SELECT * FROM unnest($1::text[]) AS s(id)),
		guesses AS (SELECT md5('riskmap-mask:' || survey_uuid) AS g FROM household UNION ALL SELECT md5(survey_uuid) FROM household
			UNION ALL SELECT encode(sha256(convert_to(survey_uuid, 'UTF8')), 'hex') FROM household)
		SELECT (SELECT count(*) FROM served JOIN guesses ON g = id),
			(SELECT count(*) FROM household h JOIN household_mask m ON m.household_id = h.id
			 CROSS JOIN LATERAL (SELECT ('x' || substr(md5(h.survey_uuid || ':0'), 1, 8))::bit(32)::bigint / 4294967296.0 AS u1,
			                            ('x' || substr(md5(h.survey_uuid || ':0'), 9, 8))::bit(32)::bigint / 4294967296.0 AS u2) r
			 WHERE ST_DWithin(m.geom::geography, ST_Project(h.geom::geography, sqrt(10000 + 240000 * r.u1), 2 * pi() * r.u2), 5))`,
		keys(before)).Scan(&idHits, &near)
	if err != nil {
		t.Fatal(err)
	}
	if idHits != 0 || near > len(before)/100 {
		t.Errorf("without the secret an attacker matched %d ids and placed %d of %d points within 5 m", idHits, near, len(before))
	}
	// A new secret (as after a leak) moves every point and renames every id.
	if _, err := db.Pool.Exec(ctx, `UPDATE mask_secret SET secret = gen_random_bytes(32)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Score(ctx, mustModel(t), 0); err != nil {
		t.Fatal(err)
	}
	after := points()
	same := 0
	for id := range after {
		if _, ok := before[id]; ok {
			same++
		}
	}
	// (which households find no draw inside their village depends on the
	// secret too: a handful may come or go)
	if diff := len(after) - len(before); diff > 5 || diff < -5 || same != 0 {
		t.Errorf("after a new secret: %d points (before %d), %d ids unchanged", len(after), len(before), same)
	}
	// The serving role cannot read the secret.
	restricted, err := postgres.OpenAs(ctx, dbURLOf(t, db), postgres.ServeRole, "")
	if err != nil {
		t.Fatal(err)
	}
	defer restricted.Close()
	var secret []byte
	if err := restricted.Pool.QueryRow(ctx, `SELECT secret FROM mask_secret`).Scan(&secret); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("riskmap_serve reads the mask secret: %v", err)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// dbURLOf is the URL of db's database, as the owner.
func dbURLOf(t *testing.T, db *postgres.DB) string {
	t.Helper()
	return db.Pool.Config().ConnString()
}

// maskedPoints fetches the households a planner key sees, by id.
func maskedPoints(t *testing.T, base, key string) map[string][2]float64 {
	t.Helper()
	_, body := get(t, base+"/collections/households/items?limit=10000", "Authorization", "Bearer "+key)
	var fc struct {
		Features []struct {
			ID       string `json:"id"`
			Geometry *struct {
				Coordinates [2]float64 `json:"coordinates"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(body, &fc); err != nil {
		t.Fatal(err)
	}
	out := map[string][2]float64{}
	for _, f := range fc.Features {
		if f.Geometry != nil {
			out[f.ID] = f.Geometry.Coordinates
		}
	}
	return out
}

// Labels for the map's view and for search: every village's label is
// megabytes at national size, so the map asks for its view (bbox) and
// search asks by name (q); both are checked against the database.
func TestLabelsByViewAndName(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	labels := func(q string) []postgres.Label {
		t.Helper()
		resp, body := get(t, srv.URL+"/labels/desa?"+q)
		var ls []postgres.Label
		if resp.StatusCode != 200 || json.Unmarshal(body, &ls) != nil {
			t.Fatalf("GET /labels/desa?%s = %d %.200s", q, resp.StatusCode, body)
		}
		return ls
	}
	all := labels("")
	var villages int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM village`).Scan(&villages); err != nil {
		t.Fatal(err)
	}
	if len(all) != villages {
		t.Fatalf("%d labels for %d villages", len(all), villages)
	}
	box := [4]float64{113.47, -7.82, 113.51, -7.78}
	in := labels("bbox=113.47,-7.82,113.51,-7.78")
	want := 0
	for _, l := range all {
		if l.Lon >= box[0] && l.Lon <= box[2] && l.Lat >= box[1] && l.Lat <= box[3] {
			want++
		}
	}
	if len(in) != want || want == 0 || want == len(all) {
		t.Errorf("bbox: %d labels, %d of all the labels lie in it", len(in), want)
	}
	for _, l := range in {
		if l.Lon < box[0] || l.Lon > box[2] || l.Lat < box[1] || l.Lat > box[3] {
			t.Errorf("label %s (%v, %v) is outside the bbox", l.Code, l.Lon, l.Lat)
		}
	}
	if ls := labels("q=alasNY"); len(ls) != 1 || ls[0].Name != "Alasnyiur" || ls[0].Code != "35.13.13.2003" {
		t.Errorf("q=alasNY: %+v, want Alasnyiur", ls)
	}
	if ls := labels("q=35.13.13."); len(ls) == 0 || len(ls) >= len(all) {
		t.Errorf("q=35.13.13. (a kecamatan's code) gives %d labels of %d", len(ls), len(all))
	}
	if ls := labels("q=%25"); len(ls) != 0 { // a literal %, not a wildcard
		t.Errorf("q=%% matches %d villages", len(ls))
	}
	if ls := labels("limit=3"); len(ls) != 3 {
		t.Errorf("limit=3 gives %d labels", len(ls))
	}
	for _, bad := range []string{"bbox=1,2,3", "limit=0", "colour=red", "q=" + strings.Repeat("a", 101)} {
		if resp, body := get(t, srv.URL+"/labels/desa?"+bad); resp.StatusCode != 400 || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
			t.Errorf("GET /labels/desa?%s = %d %s, want a 400 problem", bad, resp.StatusCode, body)
		}
	}
}

// TestAuditCountsWhatIsSent walks a staff key's households page by page, by
// the next links (after= the last key), and checks that each page's audit
// entry records the households that page holds: the last, short page
// included (it was recorded as a full page).
func TestAuditCountsWhatIsSent(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	staff, _, err := db.CreateKey(ctx, "Besuk facilitator", "staff", []string{"35.13.13"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var total int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM household WHERE village_code LIKE '35.13.13.%'`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	const limit = 150
	if total%limit == 0 || total < 2*limit {
		t.Fatalf("%d households in 35.13.13: want more than two pages and a short last one", total)
	}
	next, pages, seen := srv.URL+"/collections/households/items?limit=150&properties=tier", 0, 0
	for next != "" {
		resp, body := get(t, next, "Authorization", "Bearer "+staff)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", next, resp.StatusCode, body)
		}
		var page struct {
			Features []json.RawMessage            `json:"features"`
			Links    []struct{ Rel, Href string } `json:"links"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		var records int
		var params string
		if err := db.Pool.QueryRow(ctx, `SELECT records, params::text FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&records, &params); err != nil {
			t.Fatal(err)
		}
		if records != len(page.Features) {
			t.Errorf("page %d (%s): %d households sent, %d audited", pages+1, params, len(page.Features), records)
		}
		seen += len(page.Features)
		pages++
		next = ""
		for _, l := range page.Links {
			if l.Rel == "next" {
				next = l.Href
			}
		}
	}
	if seen != total || pages != total/limit+1 {
		t.Errorf("%d households in %d pages, want %d in %d", seen, pages, total, total/limit+1)
	}
}
