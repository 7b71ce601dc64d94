package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return send(t, "POST", url, body, append([]string{"Content-Type", "application/json"}, header...)...)
}

// TestCasesOverHTTP drives the CLMRS work list and visits through the real
// router as the restricted serving role: staff see and visit only the
// cases of their areas, every read and write is audited, a visit resent
// with its Idempotency-Key is recorded once, and bad visits are refused
// with a problem naming the field.
func TestCasesOverHTTP(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	var inside, outside int64
	var insideVillage string
	if err := db.Pool.QueryRow(ctx, `SELECT id, village_code FROM child_case WHERE village_code LIKE '35.13.13.%' ORDER BY id LIMIT 1`).Scan(&inside, &insideVillage); err != nil {
		t.Fatalf("the scored demo should have a case in Besuk (35.13.13): %v", err)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT id FROM child_case WHERE village_code NOT LIKE '35.13.13.%' ORDER BY id LIMIT 1`).Scan(&outside); err != nil {
		t.Fatal(err)
	}
	staff, _, err := db.CreateKey(ctx, "Besuk facilitator", "staff", []string{"35.13.13"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	planner, _, err := db.CreateKey(ctx, "bappeda", "planner", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := func(k string) []string { return []string{"Authorization", "Bearer " + k} }

	// The work list: only Besuk's cases, audited.
	resp, b := get(t, srv.URL+"/cases?open=true", auth(staff)...)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /cases: %d %s", resp.StatusCode, b)
	}
	var list struct {
		Cases []struct {
			ID          int64  `json:"id"`
			VillageCode string `json:"village_code"`
			Status      string `json:"status"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &list); err != nil || len(list.Cases) == 0 {
		t.Fatalf("no cases: %v %s", err, b)
	}
	for _, c := range list.Cases {
		if !strings.HasPrefix(c.VillageCode, "35.13.13.") {
			t.Errorf("staff of Besuk were sent case %d of %s", c.ID, c.VillageCode)
		}
	}
	for _, u := range []string{"/cases", fmt.Sprintf("/cases/%d", inside)} {
		if resp, _ := get(t, srv.URL+u, auth(planner)...); resp.StatusCode != 404 {
			t.Errorf("planner GET %s: %d, want 404 (the route does not exist for them)", u, resp.StatusCode)
		}
		if resp, _ := get(t, srv.URL+u); resp.StatusCode != 404 {
			t.Errorf("public GET %s: %d, want 404", u, resp.StatusCode)
		}
	}
	if resp, b := get(t, srv.URL+"/cases?area=35.13.10", auth(staff)...); resp.StatusCode != 403 {
		t.Errorf("staff asking for another kecamatan: %d %s, want 403", resp.StatusCode, b)
	}
	if resp, b := get(t, srv.URL+"/cases?status=done", auth(staff)...); resp.StatusCode != 400 || !strings.Contains(string(b), "status") {
		t.Errorf("bad status: %d %s", resp.StatusCode, b)
	}

	// A visit outside the key's areas is answered as a case that does not exist.
	visit := fmt.Sprintf(`{"visited_on":%q,"kind":"remediation","outcome":"met","actions":["school_support"],"action_status":"planned"}`, time.Now().Format(time.DateOnly))
	if resp, b := post(t, fmt.Sprintf("%s/cases/%d/visits", srv.URL, outside), visit, append(auth(staff), "Idempotency-Key", "k-out")...); resp.StatusCode != 404 {
		t.Errorf("visit to a case outside the areas: %d %s, want 404", resp.StatusCode, b)
	}
	if resp, _ := get(t, fmt.Sprintf("%s/cases/%d", srv.URL, outside), auth(staff)...); resp.StatusCode != 404 {
		t.Errorf("reading a case outside the areas: %d, want 404", resp.StatusCode)
	}
	if resp, _ := post(t, fmt.Sprintf("%s/cases/%d/visits", srv.URL, inside), visit, append(auth(planner), "Idempotency-Key", "k-p")...); resp.StatusCode != 404 {
		t.Errorf("a planner posting a visit: %d, want 404", resp.StatusCode)
	}

	// Bad visits: 400 naming the field; nothing written.
	url := fmt.Sprintf("%s/cases/%d/visits", srv.URL, inside)
	for _, c := range []struct{ body, header, field string }{
		{visit, "", "Idempotency-Key"},
		{`{"visited_on":"2026-13-01","kind":"remediation","outcome":"met"}`, "k1", "visited_on"},
		{`{"visited_on":"2026-11-01","kind":"chat","outcome":"met"}`, "k2", "kind"},
		{`{"visited_on":"2026-11-01","kind":"follow_up","outcome":"met"}`, "k3", "child_working"},
		{`{"visited_on":"2026-11-01","kind":"remediation","outcome":"met","actions":["cash"],"action_status":"planned"}`, "k4", "actions"},
		{`{"visited_on":"2026-11-01","kind":"remediation","outcome":"met","note":"Budi, 12"}`, "k5", "body"},
		{`{"visited_on":"2000-01-01","kind":"remediation","outcome":"not_found"}`, "k6", "visited_on"},
	} {
		h := auth(staff)
		if c.header != "" {
			h = append(h, "Idempotency-Key", c.header)
		}
		resp, b := post(t, url, c.body, h...)
		if resp.StatusCode != 400 || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") || !strings.Contains(string(b), c.field) {
			t.Errorf("%s: %d %s, want 400 problem naming %s", c.body, resp.StatusCode, b, c.field)
		}
	}
	var visits int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM case_visit WHERE case_id = $1`, inside).Scan(&visits)
	if visits != 0 {
		t.Fatalf("%d visits written by refused requests", visits)
	}

	// A good visit: 201, the case moves on, audited; resent: 200, once.
	resp, b = post(t, url, visit, append(auth(staff), "Idempotency-Key", "visit-1")...)
	if resp.StatusCode != 201 {
		t.Fatalf("visit: %d %s", resp.StatusCode, b)
	}
	var res struct {
		Replayed bool `json:"replayed"`
		Case     struct {
			Status  string  `json:"status"`
			NextDue *string `json:"next_due"`
		} `json:"case"`
	}
	json.Unmarshal(b, &res)
	if res.Case.Status != "remediation_planned" || res.Case.NextDue == nil {
		t.Errorf("after a planned remediation the case is %+v", res.Case)
	}
	resp, b = post(t, url, visit, append(auth(staff), "Idempotency-Key", "visit-1")...)
	if json.Unmarshal(b, &res); resp.StatusCode != 200 || !res.Replayed {
		t.Errorf("resent visit: %d %s, want 200 replayed", resp.StatusCode, b)
	}
	other := strings.Replace(visit, "planned", "delivered", 1)
	if resp, b := post(t, url, other, append(auth(staff), "Idempotency-Key", "visit-1")...); resp.StatusCode != 409 {
		t.Errorf("another visit under a used key: %d %s, want 409", resp.StatusCode, b)
	}
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM case_visit WHERE case_id = $1`, inside).Scan(&visits)
	if visits != 1 {
		t.Errorf("%d visits recorded, want 1", visits)
	}
	var audited int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE route = 'POST /cases/{id}/visits'`).Scan(&audited)
	if audited != 1 {
		t.Errorf("%d audited visits, want 1", audited)
	}
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE route = '/cases'`).Scan(&audited)
	if audited < 1 {
		t.Errorf("the work list was not audited")
	}

	// The published pipeline: no count under the rule, every count rounded.
	resp, b = get(t, srv.URL+"/pipeline/kecamatan")
	if resp.StatusCode != 200 {
		t.Fatalf("pipeline: %d %s", resp.StatusCode, b)
	}
	var pipe struct {
		Areas []struct {
			Code   string          `json:"code"`
			Status string          `json:"status"`
			Counts map[string]*int `json:"counts"`
		} `json:"areas"`
	}
	json.Unmarshal(b, &pipe)
	published := 0
	for _, a := range pipe.Areas {
		for m, v := range a.Counts {
			if v != nil && *v%5 != 0 {
				t.Errorf("%s %s = %d: not rounded", a.Code, m, *v)
			}
			if v != nil {
				published++
			}
		}
		if a.Status == "insufficient_data" && a.Counts["cases"] != nil {
			t.Errorf("%s under the minimum publishes its total", a.Code)
		}
	}
	if published == 0 {
		t.Errorf("the pipeline publishes nothing: %s", b)
	}
	if strings.Contains(string(b), "KSP-") || strings.Contains(string(b), "survey_uuid") {
		t.Errorf("the public pipeline holds household identifiers")
	}
}

// TestDatetime filters by survey round dates through OGC datetime: the
// per-round collections by the round's dates, households by their survey
// date; a collection without time refuses it with a 400 naming it.
func TestDatetime(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	var round string
	var start, end time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT id, starts_on, ends_on FROM survey_round`).Scan(&round, &start, &end); err != nil {
		t.Fatal(err)
	}
	staff, _, err := db.CreateKey(ctx, "Besuk facilitator", "staff", []string{"35.13.13"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var surveyed, before int
	db.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE submitted_at < '2026-04-01') FROM household WHERE village_code LIKE '35.13.13.%'`).Scan(&surveyed, &before)
	matched := func(path string, header ...string) int {
		t.Helper()
		resp, b := get(t, srv.URL+path, header...)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		var fc struct {
			NumberMatched int `json:"numberMatched"`
		}
		json.Unmarshal(b, &fc)
		return fc.NumberMatched
	}
	var villages int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM village`).Scan(&villages)
	inRound := start.AddDate(0, 0, 1).Format(time.DateOnly)
	for _, c := range []struct {
		path string
		want int
	}{
		{"/collections/village_rounds/items?datetime=" + inRound, villages},
		{"/collections/village_rounds/items?datetime=" + start.AddDate(-1, 0, 0).Format(time.DateOnly), 0},
		{"/collections/village_rounds/items?datetime=../" + start.Format(time.DateOnly), villages},
		{"/collections/village_rounds/items?datetime=" + end.AddDate(0, 0, 1).Format(time.DateOnly) + "/..", 0},
		{"/collections/village_rounds/items?round=" + round, villages},
	} {
		if got := matched(c.path); got != c.want {
			t.Errorf("%s: %d features, want %d", c.path, got, c.want)
		}
	}
	auth := []string{"Authorization", "Bearer " + staff}
	if got := matched("/collections/households/items?datetime=../2026-03-31T23:59:59Z", auth...); got != before || before == 0 || before == surveyed {
		t.Errorf("households surveyed before April: %d, want %d (of %d)", got, before, surveyed)
	}
	if got := matched("/collections/households/items?datetime=2026-01-01/2026-12-31", auth...); got != surveyed {
		t.Errorf("households in 2026: %d, want %d", got, surveyed)
	}
	for _, bad := range []string{"/collections/villages/items?datetime=2026-01-01", "/collections/village_rounds/items?datetime=yesterday",
		"/collections/village_rounds/items?datetime=2026-05-01/2026-01-01", "/collections/village_rounds/items?datetime=../.."} {
		resp, b := get(t, srv.URL+bad)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "datetime") {
			t.Errorf("%s: %d %s, want a 400 naming datetime", bad, resp.StatusCode, b)
		}
	}
}
