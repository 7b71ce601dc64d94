package httpapi_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestRankUncertaintyOverHTTP: every village /targets/villages ranks says
// how sure its rank is (rank_low <= rank <= rank_high, p_top in [0, 1]),
// the p_top of the whole ranking add up to K, top= is validated, and the
// CSV and the A4 report carry the same.
func TestRankUncertaintyOverHTTP(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t)
	for _, top := range []int{10, 3} {
		resp, b := get(t, srv.URL+"/targets/villages?month=8&limit=1000&top="+map[int]string{10: "10", 3: "3"}[top])
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		var r struct {
			Top     int `json:"top"`
			Targets []struct {
				ID           string   `json:"id"`
				Rank         int      `json:"rank"`
				RankLow      *int     `json:"rank_low"`
				RankHigh     *int     `json:"rank_high"`
				PTop         *float64 `json:"p_top"`
				TopCertainty string   `json:"top_certainty"`
				InTopSet     *bool    `json:"in_top_set"`
			} `json:"targets"`
		}
		if err := json.Unmarshal(b, &r); err != nil || r.Top != top || len(r.Targets) < top {
			t.Fatalf("top %d: %v %d targets, top %d", top, err, len(r.Targets), r.Top)
		}
		var sum float64
		sure, inSet := 0, 0
		// The top-K set is taken in the order of p_top: no village left
		// out of it is likelier to be in the top K than one in it.
		minIn, maxOut := 2.0, -1.0
		for _, v := range r.Targets {
			if v.InTopSet == nil {
				t.Fatalf("%s: no in_top_set", v.ID)
			}
			if *v.InTopSet {
				inSet++
				minIn = math.Min(minIn, *v.PTop)
			} else {
				maxOut = math.Max(maxOut, *v.PTop)
			}
			if v.RankLow == nil || v.RankHigh == nil || v.PTop == nil || *v.RankLow > v.Rank || *v.RankHigh < v.Rank || *v.PTop < 0 || *v.PTop > 1 {
				t.Fatalf("%s rank %d: band %v-%v p_top %v", v.ID, v.Rank, v.RankLow, v.RankHigh, v.PTop)
			}
			if want := map[bool]string{true: "pasti", false: ""}[*v.PTop >= 0.9]; want != "" && v.TopCertainty != want {
				t.Errorf("%s: p_top %v said %q", v.ID, *v.PTop, v.TopCertainty)
			}
			if *v.PTop >= 0.9 {
				sure++
			}
			sum += *v.PTop
		}
		if maxOut > minIn || inSet < top {
			t.Errorf("top %d: %d villages in the top set, the least likely of them p_top %.3f, the likeliest left out %.3f", top, inSet, minIn, maxOut)
		}
		// p_top are rounded to 0.001 each.
		if math.Abs(sum-float64(top)) > 0.0005*float64(len(r.Targets))+1e-9 {
			t.Errorf("top %d: the p_top of %d ranked villages add up to %.4f", top, len(r.Targets), sum)
		}
		t.Logf("top %d: %d ranked villages, %d surely in the top %d; the 1st: ranks %d-%d, p_top %.3f; village %d: ranks %d-%d, p_top %.3f",
			top, len(r.Targets), sure, top, *r.Targets[0].RankLow, *r.Targets[0].RankHigh, *r.Targets[0].PTop,
			top, *r.Targets[top-1].RankLow, *r.Targets[top-1].RankHigh, *r.Targets[top-1].PTop)
	}
	for _, bad := range []string{"0", "1001", "ten"} {
		resp, b := get(t, srv.URL+"/targets/villages?month=8&top="+bad)
		if resp.StatusCode != 400 || !strings.Contains(string(b), `"parameter":"top"`) {
			t.Errorf("top=%s: %d %s, want a 400 naming top", bad, resp.StatusCode, b)
		}
	}
	_, csv := get(t, srv.URL+"/targets/villages?month=8&f=csv&limit=5")
	if !strings.HasPrefix(string(csv), "rank,rank_low,rank_high,p_top,top_certainty,in_top_set,") {
		t.Errorf("CSV header: %.120s", csv)
	}
	resp, page := get(t, srv.URL+"/report/kecamatan/35.13.13?month=8")
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Peringkat (rentang 90%)") || !strings.Contains(string(page), "Peluang 3 terburuk") {
		t.Errorf("the report does not show rank ranges: %d", resp.StatusCode)
	}
	// Where to survey next, as a planner sees it: 200 households, all spent,
	// on ranked villages, buying more certainty than an even spread.
	resp, b := get(t, srv.URL+"/targets/survey-plan?month=8&households=200")
	if resp.StatusCode != 200 {
		t.Fatalf("survey plan: %d %s", resp.StatusCode, b)
	}
	var plan struct {
		Spent    int     `json:"spent"`
		Now      float64 `json:"uncertainty_now"`
		After    float64 `json:"uncertainty_after_plan"`
		Even     float64 `json:"uncertainty_after_even_spread"`
		Villages []struct {
			Village string `json:"village_code"`
			Add     int    `json:"households_to_add"`
		} `json:"villages"`
	}
	if err := json.Unmarshal(b, &plan); err != nil {
		t.Fatal(err)
	}
	added := 0
	for _, v := range plan.Villages {
		added += v.Add
	}
	if plan.Spent != 200 || added != 200 || len(plan.Villages) == 0 || !(plan.After < plan.Now) || !(plan.After <= plan.Even) {
		t.Errorf("survey plan: %+v", plan)
	}
	for _, bad := range []string{"households=5", "households=lots", ""} {
		if resp, _ := get(t, srv.URL+"/targets/survey-plan?month=8&"+bad); resp.StatusCode != 400 {
			t.Errorf("survey plan with %q: %d, want 400", bad, resp.StatusCode)
		}
	}
}
