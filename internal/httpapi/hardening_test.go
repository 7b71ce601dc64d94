package httpapi_test

import (
	"context"
	"encoding/json"
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

// TestSuppression: the published aggregates hold no count of 1-4, and no
// withheld count is the only hidden cell of a published row or column total.
func TestSuppression(t *testing.T) {
	srv, db := newServer(t)
	measures := []string{"households", "children", "hazardous", "child_labour", "light_work", "not_working"}
	type row = map[string]any
	rows := map[string][]row{}
	for _, level := range []string{"desa", "kecamatan", "kabupaten"} {
		_, body := get(t, srv.URL+"/aggregates/"+level)
		var rs []row
		if err := json.Unmarshal(body, &rs); err != nil {
			t.Fatal(err)
		}
		rows[level] = rs
	}
	hidden := 0
	for level, rs := range rows {
		for _, r := range rs {
			for _, m := range measures {
				v, ok := r[m].(float64)
				if ok && v >= 1 && v <= 4 {
					t.Errorf("%s %v publishes %s = %v", level, r["code"], m, v)
				}
				if r[m] == nil {
					hidden++
				}
			}
			// Row: children = the four classes.
			nulls := 0
			for _, m := range measures[1:] {
				if r[m] == nil {
					nulls++
				}
			}
			if nulls == 1 {
				t.Errorf("%s %v: one withheld cell in its row can be recomputed: %v", level, r["code"], r)
			}
			if r["prevalence"] != nil && (r["hazardous"] == nil || r["child_labour"] == nil || r["children"] == nil) {
				t.Errorf("%s %v: prevalence published beside a withheld count", level, r["code"])
			}
		}
	}
	// Columns: a kecamatan's count = its villages'.
	for _, k := range rows["kecamatan"] {
		for _, m := range measures {
			nulls := 0
			if k[m] == nil {
				nulls++
			}
			for _, v := range rows["desa"] {
				if v["parent_code"] == k["code"] && v[m] == nil {
					nulls++
				}
			}
			if nulls == 1 {
				t.Errorf("kecamatan %v, %s: the only withheld cell of its column can be recomputed", k["code"], m)
			}
		}
	}
	if hidden == 0 {
		t.Fatal("nothing was withheld: the test would not see a leak")
	}
	// Every other output of village counts withholds the same cells.
	var code, measure string
	var exact int
	err := db.Pool.QueryRow(context.Background(), `SELECT x.code, x.measure, CASE x.measure WHEN 'hazardous' THEN s.hazardous
		WHEN 'child_labour' THEN s.child_labour WHEN 'light_work' THEN s.light_work WHEN 'not_working' THEN s.not_working
		WHEN 'children' THEN s.children ELSE s.households END
		FROM area_suppressed x JOIN area_score s USING (level, code) WHERE x.level = 'desa' ORDER BY x.code, x.measure LIMIT 1`).Scan(&code, &measure, &exact)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/villages/" + code + "/profile", "/collections/villages/items/" + code, "/aggregates/desa?parent=" + code[:8]} {
		_, body := get(t, srv.URL+path)
		if !strings.Contains(string(body), `"`+measure+`":null`) {
			t.Errorf("%s: %s (exactly %d) is not withheld: %.400s", path, measure, exact, body)
		}
	}
	_, csvBody := get(t, srv.URL+"/collections/villages/items?f=csv&properties=code,"+measure+"&code="+code)
	if lines := strings.Split(strings.TrimSpace(string(csvBody)), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], code+","+code+",,") {
		t.Errorf("CSV publishes the withheld %s: %q", measure, csvBody)
	}
}
