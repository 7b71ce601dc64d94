package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/httpapi"
)

func TestRateLimit(t *testing.T) {
	srv, db := newServer(t, httpapi.Options{RatePerMinute: 60}) // burst 6, then one a second
	key, _, err := db.CreateKey(context.Background(), "busy planner", "planner", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	limited := 0
	for i := 0; i < 12; i++ {
		resp, body := get(t, srv.URL+"/collections")
		if resp.StatusCode == 429 {
			limited++
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "too many requests") {
				t.Errorf("429 without Retry-After or problem: %v %s", resp.Header, body)
			}
		}
	}
	if limited < 5 {
		t.Errorf("%d of 12 quick requests limited, want at least 5 past a burst of 6", limited)
	}
	// A key has its own allowance, apart from its address's.
	resp, _ := get(t, srv.URL+"/collections", "Authorization", "Bearer "+key)
	if resp.StatusCode != 200 {
		t.Errorf("a fresh key after the address ran out = %d, want 200", resp.StatusCode)
	}
	resp, _ = get(t, srv.URL+"/healthz")
	if resp.StatusCode != 200 {
		t.Errorf("/healthz is rate-limited: %d", resp.StatusCode)
	}
}

// TestInjectionProbes sends hostile values to every parameter: typed ones
// are 400s, free-text filters match nothing, nothing is a 5xx, and the
// database is unchanged.
func TestInjectionProbes(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	state := func() string {
		var s string
		err := db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM household) || '/' || (SELECT count(*) FROM child) || '/' ||
			(SELECT count(*) FROM village) || '/' || (SELECT count(*) FROM area_score) || '/' || (SELECT count(*) FROM api_key) || '/' ||
			(SELECT md5(string_agg(code || name, ',' ORDER BY code)) FROM village)`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()
	probes := []string{"'", `"`, "1;DROP TABLE household;--", "' OR '1'='1", "1 OR 1=1", "\u202e\u0000x", "🦀", "%00", "-- ", strings.Repeat("9", 300)}
	typed := []string{"bbox", "bbox-crs", "limit", "offset", "month", "sortby", "properties", "f"}
	for _, p := range probes {
		for _, param := range typed {
			resp, body := get(t, srv.URL+"/collections/villages/items?"+param+"="+url.QueryEscape(p))
			if resp.StatusCode != 400 || !strings.Contains(string(body), `"parameter":"`+param+`"`) {
				t.Errorf("%s=%q: %d %.150s, want a 400 naming %s", param, p, resp.StatusCode, body, param)
			}
		}
		for _, path := range []string{
			"/collections/villages/items?name=" + url.QueryEscape(p),
			"/collections/villages/items?tier=" + url.QueryEscape(p),
			"/collections/villages/items/" + url.PathEscape(p),
			"/collections/" + url.PathEscape(p) + "/items",
			"/villages/" + url.PathEscape(p) + "/profile",
			"/aggregates/desa?parent=" + url.QueryEscape(p),
			"/targets/villages?month=8&area=" + url.QueryEscape(p),
			"/tiles/villages/8/208/" + url.PathEscape(p),
		} {
			resp, body := get(t, srv.URL+path)
			if resp.StatusCode >= 500 || strings.Contains(string(body), "SQLSTATE") || strings.Contains(string(body), "syntax") {
				t.Errorf("GET %s = %d %.200s", path, resp.StatusCode, body)
			}
			if resp.StatusCode == 200 && strings.Contains(path, "items?") && !strings.Contains(string(body), `"numberMatched":0`) {
				t.Errorf("GET %s matched something: %.200s", path, body)
			}
		}
	}
	resp, _ := get(t, srv.URL+"/collections/villages/items?name="+strings.Repeat("x", 3000))
	if resp.StatusCode != 414 {
		t.Errorf("a 3,000-byte query = %d, want 414", resp.StatusCode)
	}
	if after := state(); after != before {
		t.Errorf("the probes changed the database: %s -> %s", before, after)
	}
}

// TestGuessingKeysIsThrottled: an address that sends bad keys is refused
// with 429 before its keys are looked up, while a valid key from another
// client works; the limit holds even with the general rate limit off.
func TestGuessingKeysIsThrottled(t *testing.T) {
	srv, db := newServer(t)
	limited, unauthorized := 0, 0
	for i := 0; i < 100; i++ {
		resp, _ := get(t, srv.URL+"/collections", "Authorization", fmt.Sprintf("Bearer rk_guess_%04d_xxxxxxxx", i))
		switch resp.StatusCode {
		case 429:
			limited++
		case 401:
			unauthorized++
		default:
			t.Fatalf("a guessed key = %d", resp.StatusCode)
		}
	}
	if limited < 80 || unauthorized > httpapi.FailedAuthPerMinute {
		t.Errorf("100 guessed keys: %d refused with 429, %d looked up (401)", limited, unauthorized)
	}
	// Requests without a key from that address still work: only keyed ones are refused.
	if resp, _ := get(t, srv.URL+"/collections"); resp.StatusCode != 200 {
		t.Errorf("the public from the guessing address = %d", resp.StatusCode)
	}
	var used int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM api_key WHERE last_used_at IS NOT NULL`).Scan(&used); err != nil || used != 0 {
		t.Errorf("guessing wrote last_used_at on %d keys (%v)", used, err)
	}
}

// TestNoFiveHundreds: every path goes through the same guard, static files
// included, and links never come from the Host header.
func TestNoFiveHundreds(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t)
	for _, path := range []string{"/static/%FF", "/static/%00", "/map?x=%FF", "/collections/%FF/items", "/tiles/%FF", "/static/a%2F..%2F..%2Fgo.mod", "/?%zz"} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode >= 500 || (resp.StatusCode != 400 && resp.StatusCode != 404) {
			t.Errorf("GET %s = %d: %.200s", path, resp.StatusCode, body)
		}
	}
	resp, body := get(t, srv.URL+"/collections/villages/items?limit=2", "Host", "evil.example")
	if resp.StatusCode != 200 || strings.Contains(string(body), "evil.example") || !strings.Contains(string(body), srv.URL+"/collections/villages/items") {
		t.Errorf("links follow the Host header: %.400s", body)
	}
}

// TestStaffExtentIsTheirs: a staff key's collection extent covers its own
// households only, not the corners of other kabupaten.
func TestStaffExtentIsTheirs(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	staff, _, err := db.CreateKey(ctx, "Besuk facilitator", "staff", []string{"35.13.13"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want, all [4]float64
	if err := db.Pool.QueryRow(ctx, `SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), ST_XMin(a), ST_YMin(a), ST_XMax(a), ST_YMax(a)
		FROM (SELECT ST_Extent(geom) FILTER (WHERE village_code LIKE '35.13.13.%') e, ST_Extent(geom) a FROM household) x`).
		Scan(&want[0], &want[1], &want[2], &want[3], &all[0], &all[1], &all[2], &all[3]); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/collections/households", "/collections"} {
		_, body := get(t, srv.URL+path, "Authorization", "Bearer "+staff)
		var doc struct {
			Extent struct {
				Spatial struct {
					BBox [][4]float64 `json:"bbox"`
				} `json:"spatial"`
			} `json:"extent"`
			Collections []struct {
				ID     string `json:"id"`
				Extent struct {
					Spatial struct {
						BBox [][4]float64 `json:"bbox"`
					} `json:"spatial"`
				} `json:"extent"`
			} `json:"collections"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		got := doc.Extent.Spatial.BBox
		for _, c := range doc.Collections {
			if c.ID == "households" {
				got = c.Extent.Spatial.BBox
			}
		}
		if len(got) != 1 {
			t.Fatalf("%s: no households extent: %.300s", path, body)
		}
		for i := range want {
			if math.Abs(got[0][i]-want[i]) > 1e-6 {
				t.Errorf("%s: staff extent %v, want their households' %v (everyone's: %v)", path, got[0], want, all)
				break
			}
		}
	}
}
