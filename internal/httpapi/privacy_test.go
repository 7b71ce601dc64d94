package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func del(t *testing.T, u, key string) (*http.Response, []byte) {
	t.Helper()
	if key == "" {
		return send(t, http.MethodDelete, u, "")
	}
	return send(t, http.MethodDelete, u, "", "Authorization", "Bearer "+key)
}

// TestEraseOverHTTP: an admin erases a household through the service's
// restricted database role; staff and the public cannot, and cannot tell
// the route exists.
func TestEraseOverHTTP(t *testing.T) {
	t.Parallel()
	srv, db := newServer(t)
	ctx := context.Background()
	admin, _, err := db.CreateKey(ctx, "programme admin", "admin", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	staff, _, err := db.CreateKey(ctx, "Besuk facilitator", "staff", []string{"35.13.13"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var uuid string
	db.Pool.QueryRow(ctx, `SELECT min(survey_uuid) FROM household WHERE village_code LIKE '35.13.13.%'`).Scan(&uuid)
	target := srv.URL + "/households/" + url.PathEscape(uuid)

	for _, c := range []struct {
		name, key, query string
		status           int
		want             string
	}{
		{"public", "", "?reason=x", 404, "no such resource"},
		{"staff in the area", staff, "?reason=x", 404, "no such resource"},
		{"admin without a reason", admin, "", 400, "reason"},
		{"admin with an unknown parameter", admin, "?reason=x&force=1", 400, "force"},
	} {
		resp, body := del(t, target+c.query, c.key)
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, resp.StatusCode, body, c.status, c.want)
		}
		if c.status == 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: content type %s", c.name, resp.Header.Get("Content-Type"))
		}
	}
	var n int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM household WHERE survey_uuid = $1`, uuid).Scan(&n)
	if n != 1 {
		t.Fatal("a refused request erased the household")
	}
	resp, body := del(t, target+"?reason="+url.QueryEscape("consent withdrawn at the village office"), admin)
	var ok struct {
		Erased      string `json:"erased"`
		VillageCode string `json:"village_code"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &ok) != nil || ok.Erased != uuid || ok.VillageCode == "" {
		t.Fatalf("admin erase: %d %s", resp.StatusCode, body)
	}
	var left, audited int
	db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM household WHERE survey_uuid = $1)
		+ (SELECT count(*) FROM household_mask m WHERE NOT EXISTS (SELECT 1 FROM household h WHERE h.id = m.household_id)),
		(SELECT count(*) FROM audit_log a JOIN api_key k ON k.id = a.key_id WHERE a.route = 'erase household' AND k.name = 'programme admin')`, uuid).Scan(&left, &audited)
	if left != 0 || audited != 1 {
		t.Errorf("after the erase: %d rows left, %d audit entries by the admin key", left, audited)
	}
	if resp, _ := del(t, target+"?reason=again", admin); resp.StatusCode != 404 {
		t.Errorf("erasing twice: %d, want 404", resp.StatusCode)
	}
	// The household's feature is gone for staff too.
	resp, _ = get(t, srv.URL+"/collections/households/items/"+url.PathEscape(uuid), "Authorization", "Bearer "+staff)
	if resp.StatusCode != 404 {
		t.Errorf("erased household's item: %d", resp.StatusCode)
	}
}
