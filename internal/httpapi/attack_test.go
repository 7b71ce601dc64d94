package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// TestAttackPublishedTables attacks what the public and a planner are served
// over HTTP, on the 783 real villages with 20,000 generated households,
// the ways an outside attacker did before the publication step existed:
// score minus components, shares times counts, chains of row and column
// constraints solved together (the exact LP bounds), parent and month
// differencing, and planners counting masked household points. None may
// recover a withheld count or a count of 1-4.
func TestAttackPublishedTables(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("loads the real boundaries")
	}
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	dbtest.LoadRealRegion(t, db, 20000, 11)
	restricted, err := postgres.OpenAs(ctx, dbURL, postgres.ServeRole, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restricted.Close)
	srv := serve(t, restricted)
	planner, _, err := db.CreateKey(ctx, "bappeda", "planner", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rule := mustModel(t).Publication

	// What the attacker holds: every aggregate, as the public and as a planner.
	type row = map[string]any
	served := map[string]row{} // level:code
	for _, level := range []string{"desa", "kecamatan", "kabupaten"} {
		_, pub := get(t, srv.URL+"/aggregates/"+level)
		_, plan := get(t, srv.URL+"/aggregates/"+level, "Authorization", "Bearer "+planner)
		if string(pub) != string(plan) {
			t.Errorf("/aggregates/%s differs between the public and a planner", level)
		}
		var rs []row
		if err := json.Unmarshal(pub, &rs); err != nil {
			t.Fatalf("/aggregates/%s: %v", level, err)
		}
		for _, r := range rs {
			served[level+":"+r["code"].(string)] = r
		}
	}
	if len(served) != 783+76+3 {
		t.Fatalf("%d areas served, want 862", len(served))
	}
	// The truth, to judge the attacks by.
	truth := map[string]risk.AreaCounts{}
	// (The counts published are the rounding of each village's release
	// basis, summed to its parents in SQL here, apart from the Go code.)
	rows, err := db.Pool.Query(ctx, `
		WITH leaf AS (
			SELECT v.code, v.kecamatan_code AS kec, k.kabupaten_code AS kab, coalesce(b.households, 0) AS households,
				coalesce(b.children, 0) AS children, coalesce(b.hazardous, 0) AS hazardous, coalesce(b.child_labour, 0) AS child_labour,
				coalesce(b.light_work, 0) AS light_work, coalesce(b.not_working, 0) AS not_working,
				coalesce(b.labourer_households, 0) AS labourer_households, coalesce(b.poor_households, 0) AS poor_households
			FROM village v JOIN kecamatan k ON k.code = v.kecamatan_code
			LEFT JOIN release_basis b ON b.village_code = v.code AND b.round_id = scored_round())
		SELECT 'desa', code, kec, households, children, hazardous, child_labour, light_work, not_working, labourer_households, poor_households FROM leaf
		UNION ALL SELECT 'kecamatan', kec, kab, sum(households), sum(children), sum(hazardous), sum(child_labour), sum(light_work),
			sum(not_working), sum(labourer_households), sum(poor_households) FROM leaf GROUP BY kec, kab
		UNION ALL SELECT 'kabupaten', kab, '', sum(households), sum(children), sum(hazardous), sum(child_labour), sum(light_work),
			sum(not_working), sum(labourer_households), sum(poor_households) FROM leaf GROUP BY kab`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var level, code, parent string
		n := make([]int, 8)
		if err := rows.Scan(&level, &code, &parent, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7]); err != nil {
			t.Fatal(err)
		}
		a := risk.AreaCounts{Area: level + ":" + code, Leaf: level == "desa", Counts: map[string]int{}}
		switch level {
		case "desa":
			a.Parent = "kecamatan:" + parent
		case "kecamatan":
			a.Parent = "kabupaten:" + parent
		}
		for i, m := range []string{"households", "children", "hazardous", "child_labour", "light_work", "not_working", "labourer_households", "poor_households"} {
			a.Counts[m] = n[i]
		}
		truth[a.Area] = a
	}
	rows.Close()

	num := func(r row, k string) (float64, bool) { v, ok := r[k].(float64); return v, ok }
	var withheld, smallTrue, insufficient int
	for area, r := range served {
		tr := truth[area]
		// No count of 1-4 anywhere: every published count is a multiple of 5.
		for _, m := range risk.CountMeasures {
			v, ok := num(r, m)
			if !ok {
				withheld++
				continue
			}
			if int(v)%rule.RoundingBase != 0 {
				t.Errorf("%s publishes %s = %v, not a multiple of %d", area, m, v, rule.RoundingBase)
			}
			if c := tr.Counts[m]; c >= 1 && c <= rule.SmallCountMax {
				smallTrue++
			}
		}
		if r["status"] == "insufficient_data" {
			insufficient++
		}
		// Score minus components: the score is the sum of its published
		// components, so the difference holds nothing.
		if sc, ok := num(r, "score"); ok && strings.HasPrefix(area, "desa:") {
			comps, _ := r["components"].(map[string]any)
			sum := 0.0
			for _, v := range comps {
				sum += v.(float64)
			}
			// A share component whose published counts are withheld is left
			// out (the others scaled up), never computed from a hidden count.
			for comp, counts := range map[string][]string{"poverty_share": {"poor_households", "households"},
				"farm_labourer_share": {"labourer_households", "households"}} {
				_, has := comps[comp]
				_, c0 := num(r, counts[0])
				_, c1 := num(r, counts[1])
				if !has && c0 && c1 {
					t.Errorf("%s: %s left out although its counts are published", area, comp)
				}
			}
			if len(comps) < 4 || math.Abs(sc-sum) > 0.051 {
				t.Errorf("%s: score %v, components %v sum to %v", area, sc, comps, sum)
			}
		}
		// Shares times counts: a share is the ratio of two published counts
		// (so it tells nothing they do not), and an area without published
		// counts has no shares, means, rates or score at all.
		for _, sh := range []struct{ share, count string }{{"farm_labourer_share", "labourer_households"}, {"poverty_share", "poor_households"}} {
			s, ok := num(r, sh.share)
			if !ok || strings.HasPrefix(area, "desa:") {
				// a village's share is a small-area estimate from published
				// counts: the disclosure check below computes it again from
				// them alone
				continue
			}
			c, okc := num(r, sh.count)
			h, okh := num(r, "households")
			if !okc || !okh || math.Abs(s-c/h) > 1e-4 {
				t.Errorf("%s: %s %v is not %s / households (%v / %v)", area, sh.share, s, sh.count, r[sh.count], r["households"])
			}
		}
		if p, ok := num(r, "prevalence"); ok {
			hz, ok1 := num(r, "hazardous")
			cl, ok2 := num(r, "child_labour")
			ch, ok3 := num(r, "children")
			if !ok1 || !ok2 || !ok3 || math.Abs(p-(hz+cl)/ch) > 1e-4 {
				t.Errorf("%s: prevalence %v is not (hazardous + child_labour) / children of published counts", area, p)
			}
		}
		if r["households"] == nil {
			for _, k := range []string{"mean_household_score", "farm_labourer_share", "poverty_share", "prevalence", "prevalence_smoothed", "score", "components", "monthly"} {
				if r[k] != nil {
					t.Errorf("%s withholds its households but publishes %s = %v", area, k, r[k])
				}
			}
		}
	}
	if withheld == 0 || smallTrue == 0 || insufficient == 0 {
		t.Fatalf("%d withheld counts, %d published cells hiding a count of 1-4, %d villages under the minimum: the attacks would have nothing to find", withheld, smallTrue, insufficient)
	}

	// Planners count masked points: only in villages whose household count
	// is published, and then exactly that village's households.
	perVillage := map[string]int{}
	next := srv.URL + "/collections/households/items?limit=10000"
	for next != "" {
		var fc struct {
			Features []struct {
				Properties map[string]any `json:"properties"`
			} `json:"features"`
			Links []struct{ Href, Rel string } `json:"links"`
		}
		resp, body := get(t, next, "Authorization", "Bearer "+planner)
		if resp.StatusCode != 200 || json.Unmarshal(body, &fc) != nil {
			t.Fatalf("GET %s = %d: %.200s", next, resp.StatusCode, body)
		}
		next = ""
		for _, f := range fc.Features {
			if len(f.Properties) != 1 {
				t.Fatalf("a planner's household carries %v: only village_code may be shown", f.Properties)
			}
			perVillage[f.Properties["village_code"].(string)]++
		}
		for _, l := range fc.Links {
			if l.Rel == "next" {
				next = l.Href
			}
		}
	}
	shownAll, publishedAll := 0, 0
	for area, r := range served {
		code, isDesa := strings.CutPrefix(area, "desa:")
		if !isDesa {
			continue
		}
		if n := perVillage[code]; r["households"] == nil && n > 0 {
			t.Errorf("%s: its household count is withheld, yet planners can count %d masked points", area, n)
		} else if all := truth[area].Counts["households"]; r["households"] != nil && n > all {
			// A household none of whose 32 draws lands inside its village is
			// left out, so planners count at most the truth (the audit
			// assumes they know it exactly: the stronger attacker). Which
			// ones depends on the database's secret.
			t.Errorf("%s: %d masked points for %d households", area, n, all)
		} else if r["households"] != nil {
			shownAll, publishedAll = shownAll+n, publishedAll+all
		}
	}
	if shownAll < publishedAll*98/100 {
		t.Errorf("planners see %d of the %d households of published villages: the mask leaves out too many", shownAll, publishedAll)
	}
	// numberMatched of one village under the minimum is 0, not its count.
	for area, r := range served {
		if r["status"] != "insufficient_data" || !strings.HasPrefix(area, "desa:") || truth[area].Counts["households"] == 0 {
			continue
		}
		fc := itemsWithKey(t, srv.URL+"/collections/households/items?limit=1&village_code="+url.QueryEscape(strings.TrimPrefix(area, "desa:")), planner)
		if fc.NumberMatched != 0 {
			t.Errorf("%s (%d households, under the minimum): planners get numberMatched %d", area, truth[area].Counts["households"], fc.NumberMatched)
		}
		break
	}

	// Chains of constraints: every row and column at once, as a linear
	// program over what was served (planners' exact household counts
	// included), must leave every withheld and every small count an
	// interval at least min_interval_width wide that reaches past 4.
	areas := make([]risk.AreaCounts, 0, len(truth))
	pub := map[string]risk.PublishedArea{}
	for area, tr := range truth {
		areas = append(areas, tr)
		r := served[area]
		p := risk.PublishedArea{Values: map[string]*int{}}
		for _, m := range risk.CountMeasures {
			if v, ok := num(r, m); ok {
				x := int(v)
				p.Values[m] = &x
			}
		}
		pub[area] = p
	}
	findings, err := risk.Audit(areas, pub, rule)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("LP attack: %s (true %d)", f, truth[f.Cell.Area].Counts[f.Cell.Measure])
	}
	// Parent differencing, the naive way: a kecamatan's count minus its
	// published villages' bounds the rest; where one village is the rest,
	// its interval must hold the rule.
	dr := rule.Disclosure()
	for kec, k := range served {
		if !strings.HasPrefix(kec, "kecamatan:") {
			continue
		}
		for _, m := range risk.CountMeasures {
			kv, ok := num(k, m)
			if !ok {
				continue
			}
			lo, hi := int(kv)-rule.RoundingBase/2, int(kv)+rule.RoundingBase/2
			var hidden []string
			for area, r := range served {
				if truth[area].Parent != kec {
					continue
				}
				if v, ok := num(r, m); ok {
					lo -= int(v) + rule.RoundingBase/2
					hi -= max(0, int(v)-rule.RoundingBase/2)
				} else {
					hidden = append(hidden, area)
				}
			}
			if len(hidden) == 1 {
				iv := risk.Interval{Lo: max(lo, 0), Hi: hi}
				if !dr.Safe(iv, true) {
					t.Errorf("differencing %s %s gives %s %s = %v (true %d)", kec, m, hidden[0], m, iv, truth[hidden[0]].Counts[m])
				}
			}
		}
	}

	// Month differencing: a month's seasonal score is the published score
	// times that month's labour index, nothing more.
	_, calBody := get(t, srv.URL+"/calendar")
	var cal struct {
		Default   string               `json:"default_variety"`
		Varieties map[string][]float64 `json:"varieties"`
	}
	if err := json.Unmarshal(calBody, &cal); err != nil {
		t.Fatal(err)
	}
	for area, r := range served {
		sc, ok := num(r, "score")
		if !ok || !strings.HasPrefix(area, "desa:") {
			continue
		}
		monthly, _ := r["monthly"].([]any)
		matched := false
		for _, idx := range cal.Varieties {
			ok := len(monthly) == 12
			for i := 0; ok && i < 12; i++ {
				ok = math.Abs(monthly[i].(float64)-math.Round(sc*idx[i]*100)/100) < 0.011
			}
			matched = matched || ok
		}
		if !matched {
			t.Errorf("%s: monthly %v is not score %v times a calendar", area, monthly, sc)
		}
	}
	// Every derived figure served is what the published counts (and facts
	// that are not survey answers) give, computed again from them alone.
	problems, err := db.DisclosureCheck(ctx, mustModel(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("disclosure check: %s", p)
	}
	t.Logf("%d areas, %d withheld counts, %d published cells over a true count of 1-4, %d villages under the minimum; no attack recovered a count",
		len(served), withheld, smallTrue, insufficient)
}

func itemsWithKey(t *testing.T, u, key string) featureCollection {
	t.Helper()
	resp, body := get(t, u, "Authorization", "Bearer "+key)
	var fc featureCollection
	if resp.StatusCode != 200 || json.Unmarshal(body, &fc) != nil {
		t.Fatalf("GET %s = %d: %.200s", u, resp.StatusCode, body)
	}
	return fc
}

func mustModel(t *testing.T) *risk.Model {
	t.Helper()
	m, err := risk.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var _ = fmt.Sprint
