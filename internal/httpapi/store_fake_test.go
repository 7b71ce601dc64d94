package httpapi

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// fakeStore is a Store held in memory: the handler tests of `make check`
// run through the real router (middleware, guard, handlers, problems)
// without a database. A method a test did not expect fails loudly (the
// embedded nil Store panics, and the recoverer answers 500).
type fakeStore struct {
	Store
	keys map[string]risk.Principal

	mu          sync.Mutex
	cases       []postgres.Case
	villageOf   map[int64]string
	targets     []postgres.Target
	households  []string // the households collection's features, as GeoJSON
	caseQueries []postgres.CaseQuery
	targetAreas [][]string
	audits      []fakeAudit
	auditErr    error
	casesErr    error
	visits      []risk.Visit
}

type fakeAudit struct {
	role    risk.Role
	route   string
	params  map[string][]string
	records int
}

func (f *fakeStore) DataVersion(context.Context) (string, error) { return "v1", nil }

func (f *fakeStore) Authenticate(_ context.Context, key string) (risk.Principal, error) {
	if p, ok := f.keys[key]; ok {
		return p, nil
	}
	return risk.Principal{}, risk.Errorf(risk.ENOTFOUND, "no such key")
}

func (f *fakeStore) Cases(_ context.Context, q postgres.CaseQuery) ([]postgres.Case, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.caseQueries = append(f.caseQueries, q)
	if f.casesErr != nil {
		return nil, f.casesErr
	}
	var out []postgres.Case
	for _, c := range f.cases {
		in := q.ID == 0 || c.ID == q.ID
		if len(q.Areas) > 0 {
			covered := false
			for _, a := range q.Areas {
				covered = covered || strings.HasPrefix(c.VillageCode, a)
			}
			in = in && covered
		}
		if in && len(out) < q.Limit || in && q.ID != 0 {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeStore) CaseVillage(_ context.Context, id int64) (string, error) {
	if v, ok := f.villageOf[id]; ok {
		return v, nil
	}
	return "", risk.Errorf(risk.ENOTFOUND, "no case %d", id)
}

func (f *fakeStore) CaseVisits(context.Context, int64) ([]postgres.CaseVisit, error) { return nil, nil }

func (f *fakeStore) HouseholdTargets(_ context.Context, _ int, areas []string, limit int) ([]postgres.Target, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targetAreas = append(f.targetAreas, areas)
	return f.targets[:min(limit, len(f.targets))], nil
}

func (f *fakeStore) Audit(_ context.Context, p risk.Principal, route string, params map[string][]string, records int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.auditErr != nil {
		return f.auditErr
	}
	f.audits = append(f.audits, fakeAudit{p.Role, route, params, records})
	return nil
}

func (f *fakeStore) CurrentModel(context.Context) (*risk.Model, error) { return risk.DefaultModel() }

func (f *fakeStore) AddVisit(_ context.Context, p risk.Principal, _ risk.Cases, v risk.Visit, key string, _ time.Time) (postgres.VisitResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.visits = append(f.visits, v)
	return postgres.VisitResult{VisitID: int64(len(f.visits)), Case: postgres.Case{ID: v.CaseID, Status: "monitoring"}}, nil
}

func (f *fakeStore) CountItems(_ context.Context, q *postgres.ItemsQuery) (int, error) {
	return len(f.households), nil
}

func (f *fakeStore) PageCount(_ context.Context, q *postgres.ItemsQuery, matched int) (int, error) {
	return min(q.Limit, matched), nil
}

func (f *fakeStore) StreamPage(_ context.Context, q *postgres.ItemsQuery, start func() io.Writer) (postgres.Page, error) {
	w := start()
	n := min(q.Limit, len(f.households))
	_, err := io.WriteString(w, strings.Join(f.households[:n], ","))
	return postgres.Page{N: n, More: n < len(f.households)}, err
}

func (f *fakeStore) Aggregates(_ context.Context, level, parent string) ([]byte, error) {
	return []byte(`[{"code" : "35.13.13", "name" : "Pakuniran", "score" : 41.5, "tier" : "medium"}]`), nil
}

func (f *fakeStore) auditLog() []fakeAudit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.audits)
}

const (
	staffKey   = "staff-key-0123456789"
	adminKey   = "admin-key-0123456789"
	plannerKey = "planner-key-0123456789"
)

func newFake(t *testing.T) (*fakeStore, *httptest.Server) {
	t.Helper()
	f := &fakeStore{
		keys: map[string]risk.Principal{
			staffKey:   {Role: risk.RoleStaff, Name: "staff Pakuniran", KeyID: 2, Areas: []string{"35.13.13"}},
			adminKey:   {Role: risk.RoleAdmin, Name: "admin", KeyID: 1},
			plannerKey: {Role: risk.RolePlanner, Name: "planner", KeyID: 3},
		},
		villageOf: map[int64]string{1: "35.13.13.2003", 2: "35.13.13.2004", 3: "35.08.01.2001"},
	}
	for id, v := range map[int64]string{1: "35.13.13.2003", 2: "35.13.13.2004", 3: "35.08.01.2001"} {
		f.cases = append(f.cases, postgres.Case{ID: id, Status: "open", VillageCode: v, Village: "v" + v[len(v)-1:], Age: 12, Sex: "F"})
	}
	slices.SortFunc(f.cases, func(a, b postgres.Case) int { return int(a.ID - b.ID) })
	for i := range 5 {
		f.targets = append(f.targets, postgres.Target{Rank: i + 1, ID: fmt.Sprintf("uuid-%d", i), Village: "35.13.13.2003", Score: 80 - float64(i)})
		f.households = append(f.households, fmt.Sprintf(`{"type":"Feature","id":"uuid-%d","geometry":null,"properties":{"score":%d}}`, i, 80-i))
	}
	s := newServer(f, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{PageCacheBytes: -1, TileCacheBytes: -1})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return f, srv
}

func fetch(t *testing.T, method, url, key string, body io.Reader, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestHandlersPrivateRoutes drives the household-level routes through the
// real router over the fake store: who gets in, which areas the store is
// asked for, and that each answer's audit entry counts what was sent.
func TestHandlersPrivateRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path, key string
		body                    string
		status                  int
		wantBody                string // a substring of the answer
		audit                   *fakeAudit
	}{
		{name: "public: /cases does not exist", method: "GET", path: "/cases", status: 404, wantBody: "no route matches /cases"},
		{name: "planner: /cases does not exist", method: "GET", path: "/cases", key: plannerKey, status: 404},
		{name: "staff: their areas' cases, audited with the count sent", method: "GET", path: "/cases?open=true", key: staffKey, status: 200, wantBody: `"id":2`,
			audit: &fakeAudit{risk.RoleStaff, "/cases", map[string][]string{"open": {"true"}}, 2}},
		{name: "staff: another kabupaten's area is refused before the store is asked", method: "GET", path: "/cases?area=35.08", key: staffKey, status: 403, wantBody: `"parameter":"area"`},
		{name: "staff: a case outside their areas looks like none", method: "GET", path: "/cases/3", key: staffKey, status: 404, wantBody: `"parameter":"id"`},
		{name: "staff: one case, audited as one record with its id", method: "GET", path: "/cases/1", key: staffKey, status: 200, wantBody: `"case":{"id":1`,
			audit: &fakeAudit{risk.RoleStaff, "/cases/{id}", map[string][]string{"id": {"1"}}, 1}},
		{name: "staff: household targets, default limit 50, audited", method: "GET", path: "/targets/households?month=8", key: staffKey, status: 200, wantBody: `"id":"uuid-4"`,
			audit: &fakeAudit{risk.RoleStaff, "/targets/households", map[string][]string{"month": {"8"}}, 5}},
		{name: "staff: household targets as HTML (as /api documents)", method: "GET", path: "/targets/households?month=8&limit=2&f=html", key: staffKey, status: 200, wantBody: "<html",
			audit: &fakeAudit{risk.RoleStaff, "/targets/households", map[string][]string{"month": {"8"}, "limit": {"2"}, "f": {"html"}}, 2}},
		{name: "staff: households collection page, audited with the page's rows", method: "GET", path: "/collections/households/items?limit=3", key: staffKey, status: 200, wantBody: `"numberReturned":3`,
			audit: &fakeAudit{risk.RoleStaff, "/collections/households/items", map[string][]string{"limit": {"3"}}, 3}},
		{name: "public: the households collection does not exist", method: "GET", path: "/collections/households/items", status: 404, wantBody: `"parameter":"collection"`},
		{name: "staff: a visit is recorded (the store audits it in its transaction)", method: "POST", path: "/cases/1/visits", key: staffKey, status: 201,
			body: `{"visited_on":"2026-09-01","kind":"remediation","outcome":"met","child_working":false,"in_school":true}`, wantBody: `"visit_id":1`},
		{name: "staff: a visit with free text is refused", method: "POST", path: "/cases/1/visits", key: staffKey, status: 400,
			body: `{"visited_on":"2026-09-01","note":"the child's name is ..."}`, wantBody: `"parameter":"body"`},
		{name: "admin: an unknown parameter on the audit log", method: "GET", path: "/audit?since=24h&everything=1", key: adminKey, status: 400, wantBody: `"parameter":"everything"`},
		{name: "staff: the audit log does not exist", method: "GET", path: "/audit", key: staffKey, status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFake(t)
			var body io.Reader
			var hdr []string
			if tt.body != "" {
				body = strings.NewReader(tt.body)
				hdr = []string{"Content-Type", "application/json", "Idempotency-Key", "k-1"}
			}
			resp, got := fetch(t, tt.method, srv.URL+tt.path, tt.key, body, hdr...)
			if resp.StatusCode != tt.status || !strings.Contains(got, tt.wantBody) {
				t.Fatalf("%d %.300s, want %d with %q", resp.StatusCode, got, tt.status, tt.wantBody)
			}
			log := f.auditLog()
			if tt.audit == nil {
				if len(log) != 0 {
					t.Errorf("audited %+v, want nothing", log)
				}
				return
			}
			if len(log) != 1 || log[0].role != tt.audit.role || log[0].route != tt.audit.route || log[0].records != tt.audit.records ||
				fmt.Sprint(log[0].params) != fmt.Sprint(tt.audit.params) {
				t.Errorf("audit log %+v, want one entry %+v", log, *tt.audit)
			}
			if resp.Header.Get("Cache-Control") != "private, no-store" {
				t.Errorf("household-level answer with Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

// TestHandlersScopeReachesTheStore: a staff key's cases and targets are
// asked of the store for its areas only, or the one area asked for.
func TestHandlersScopeReachesTheStore(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	for _, path := range []string{"/cases", "/cases?area=35.13.13.2004&limit=7&due_before=2026-10-01", "/targets/households?month=8", "/targets/households?month=8&area=35.13.13.2003"} {
		if resp, body := fetch(t, "GET", srv.URL+path, staffKey, nil); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.caseQueries) != 2 || fmt.Sprint(f.caseQueries[0].Areas) != "[35.13.13]" || f.caseQueries[0].Limit != 1000 ||
		fmt.Sprint(f.caseQueries[1].Areas) != "[35.13.13.2004]" || f.caseQueries[1].Limit != 7 || f.caseQueries[1].DueBefore.Format(time.DateOnly) != "2026-10-01" {
		t.Errorf("case queries %+v", f.caseQueries)
	}
	if fmt.Sprint(f.targetAreas) != "[[35.13.13] [35.13.13.2003]]" {
		t.Errorf("target areas %v", f.targetAreas)
	}
}

// TestHandlersNothingSentWithoutAudit: when the audit log cannot be
// written, no household-level byte leaves; when the store is down, a 503
// with Retry-After; a driver's error text never reaches the client.
func TestHandlersNothingSentWithoutAudit(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	f.auditErr = errors.New(`ERROR: permission denied for table audit_log (SQLSTATE 42501)`)
	for _, path := range []string{"/cases", "/cases/1", "/targets/households?month=8", "/collections/households/items"} {
		resp, body := fetch(t, "GET", srv.URL+path, staffKey, nil)
		if resp.StatusCode != 500 || strings.Contains(body, "uuid-") || strings.Contains(body, "35.13.13.2003") || strings.Contains(body, "audit_log") {
			t.Errorf("%s with the audit log failing: %d %s", path, resp.StatusCode, body)
		}
	}
	f.auditErr = nil
	f.casesErr = risk.Errorf(risk.EUNAVAILABLE, "the database is in recovery")
	resp, body := fetch(t, "GET", srv.URL+"/cases", staffKey, nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || strings.Contains(body, "recovery") {
		t.Errorf("store unavailable: %d %s", resp.StatusCode, body)
	}
}

// TestHandlersFormats: the public aggregates come compact as JSON and as
// CSV with the documented columns first; cases as CSV for staff.
func TestHandlersFormats(t *testing.T) {
	t.Parallel()
	_, srv := newFake(t)
	resp, body := fetch(t, "GET", srv.URL+"/aggregates/kecamatan", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != typeJSON || !strings.Contains(body, `"code":"35.13.13"`) {
		t.Errorf("aggregates JSON: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, body = fetch(t, "GET", srv.URL+"/aggregates/kecamatan?f=csv", "", nil)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if resp.StatusCode != 200 || err != nil || len(rows) != 2 || strings.Join(rows[0][:3], ",") != "code,name,parent_code" || rows[1][0] != "35.13.13" {
		t.Errorf("aggregates CSV: %d %v %q", resp.StatusCode, err, body)
	}
	resp, body = fetch(t, "GET", srv.URL+"/cases?f=csv", staffKey, nil)
	rows, err = csv.NewReader(strings.NewReader(body)).ReadAll()
	if resp.StatusCode != 200 || err != nil || len(rows) != 3 {
		t.Errorf("cases CSV: %d %v %q", resp.StatusCode, err, body)
	}
	var doc map[string]any
	resp, body = fetch(t, "GET", srv.URL+"/cases", staffKey, nil)
	if err := json.Unmarshal([]byte(body), &doc); err != nil || resp.StatusCode != 200 || len(doc["cases"].([]any)) != 2 {
		t.Errorf("cases JSON: %d %v %.200s", resp.StatusCode, err, body)
	}
}
