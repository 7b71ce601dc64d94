package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/pull"
)

// Local servers that answer as KoBoToolbox's v2 API and ODK Central's OData
// feed document it (https://kf.kobotoolbox.org/api/v2/docs/, "Data" of an
// asset; https://docs.getodk.org/central-api-odata-endpoints/): paging by
// links, repeats, attachments, authentication errors, a 5xx first.

func fastPulls(t *testing.T) {
	old := newPullClient
	newPullClient = func() *pull.Client {
		c := pull.NewClient()
		c.PageSize = 2
		c.Backoff = time.Millisecond
		return c
	}
	t.Cleanup(func() { newPullClient = old })
}

func secretFile(t *testing.T, s string) string {
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(s+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

type pullDB struct {
	url    string
	getenv func(string) string
	db     *postgres.DB
}

func newPullDB(t *testing.T) pullDB {
	u := dbtest.URL(t)
	getenv := envWith(map[string]string{"DATABASE_URL": u})
	if _, _, err := runCmd(t, getenv, "import", "boundaries", "--level", "desa", filepath.Join(dbtest.RepoRoot(t), "geodata", "demo", "villages.geojson")); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return pullDB{u, getenv, db}
}

func (p pullDB) counts(t *testing.T) (households, children, runs int) {
	t.Helper()
	if err := p.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM household), (SELECT count(*) FROM child), (SELECT count(*) FROM import_run)`).
		Scan(&households, &children, &runs); err != nil {
		t.Fatal(err)
	}
	return
}

// koboSubmission is one result of GET /api/v2/assets/UID/data/?format=json.
func koboSubmission(id int, uuid, consent string, kids int) map[string]any {
	s := map[string]any{
		"_id": id, "formhub/uuid": "f00d", "start": "2026-03-02T08:00:00.000+07:00", "end": "2026-03-02T08:30:00.000+07:00",
		"consent": consent, "__version__": "vXyZ", "meta/instanceID": "uuid:" + uuid, "_xform_id_string": "aBcD",
		"_uuid": uuid, "_attachments": []any{map[string]any{"download_url": "https://kf.example/media/x.jpg", "mimetype": "image/jpeg"}},
		"_status": "submitted_via_web", "_geolocation": []any{-7.8094, 113.4998}, "_submission_time": fmt.Sprintf("2026-03-02T0%d:30:00", id%10),
		"_tags": []any{}, "_notes": []any{}, "_validation_status": map[string]any{}, "_submitted_by": nil,
	}
	if consent != "yes" {
		return s
	}
	for k, v := range map[string]string{"household/kecamatan": "35.13.13", "household/village": "35.13.13.2003", "household/gps": "-7.8094 113.4998 210 5",
		"household/livelihood": "farm_labourer tobacco_grower", "household/poverty_programme": "pkh", "household/caregiver_education": "primary",
		"household/single_parent": "no", "household/members": "5", "household/working_adults": "2"} {
		s[k] = v
	}
	var children []any
	for i := 0; i < kids; i++ {
		children = append(children, map[string]any{"children/age": strconv.Itoa(10 + i), "children/sex": "female", "children/school_status": "enrolled",
			"children/harvest_absence_days": "3", "children/works": "yes", "children/work_hours_week": "20", "children/work_hours_day": "4",
			"children/work_school_hours": "no", "children/tasks": "harvest_green_leaf", "children/gts_symptoms": "nausea",
			"children/disability": "no", "children/special_needs": "no", "children/orphan": "no"})
	}
	if kids > 0 {
		s["children"] = children
	}
	return s
}

type koboServer struct {
	mu       sync.Mutex
	subs     []map[string]any
	failNext int // answer 503 this many times
	requests []string
}

func (k *koboServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.requests = append(k.requests, r.URL.RequestURI())
	if r.Header.Get("Authorization") != "Token s3cret" {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"detail":"Invalid token."}`))
		return
	}
	if r.URL.Path != "/api/v2/assets/aBcD/data/" {
		http.NotFound(w, r)
		return
	}
	if k.failNext > 0 {
		k.failNext--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	q := r.URL.Query()
	after := 0
	if m := regexp.MustCompile(`"_id":\{"\$gt":(\d+)\}`).FindStringSubmatch(q.Get("query")); m != nil {
		after, _ = strconv.Atoi(m[1])
	}
	var match []map[string]any
	for _, s := range k.subs {
		if s["_id"].(int) > after {
			match = append(match, s)
		}
	}
	start, _ := strconv.Atoi(q.Get("start"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	end := min(start+limit, len(match))
	page := map[string]any{"count": len(match), "next": nil, "previous": nil, "results": match[min(start, len(match)):end]}
	if end < len(match) {
		q.Set("start", strconv.Itoa(end))
		page["next"] = "http://" + r.Host + r.URL.Path + "?" + q.Encode()
	}
	json.NewEncoder(w).Encode(page)
}

func TestImportKoBoPull(t *testing.T) {
	fastPulls(t)
	p := newPullDB(t)
	srv := &koboServer{subs: []map[string]any{
		koboSubmission(501, "k-0001", "yes", 2), koboSubmission(502, "k-0002", "no", 0), koboSubmission(503, "k-0003", "yes", 1),
	}, failNext: 1}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	args := func(token string, extra ...string) []string {
		return append([]string{"import", "kobo", "--server", ts.URL, "--asset", "aBcD", "--token-file", secretFile(t, token)}, extra...)
	}

	// A wrong token: refused, nothing changes, and no retry.
	_, _, err := runCmd(t, p.getenv, args("wrong")...)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials (HTTP 401") {
		t.Fatalf("wrong token: %v", err)
	}
	if h, c, runs := p.counts(t); h+c+runs != 1 { // the boundary import's run
		t.Errorf("a refused pull changed the database: %d households, %d children, %d runs", h, c, runs)
	}

	// The pull: a 503 first (retried), two pages, the refusal skipped, attachments ignored.
	out, _, err := runCmd(t, p.getenv, args("s3cret")...)
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	if !strings.Contains(out, "pulled 3 submission(s) in 2 page(s)") || !strings.Contains(out, "2 inserted") ||
		!strings.Contains(out, "children: 3 loaded") || !strings.Contains(out, "skipped: 1 household(s) that did not consent") {
		t.Errorf("summary:\n%s", out)
	}
	if h, c, _ := p.counts(t); h != 2 || c != 3 {
		t.Errorf("loaded %d households, %d children; want 2, 3", h, c)
	}

	// Incremental: nothing new, then one new submission only.
	out, _, err = runCmd(t, p.getenv, args("s3cret")...)
	if err != nil || !strings.Contains(out, "no new submissions") {
		t.Errorf("second pull: %v\n%s", err, out)
	}
	srv.mu.Lock()
	srv.subs = append(srv.subs, koboSubmission(504, "k-0004", "yes", 1))
	last := srv.requests[len(srv.requests)-1]
	srv.mu.Unlock()
	if q, _ := url.QueryUnescape(last); !strings.Contains(q, `"_id":{"$gt":503}`) {
		t.Errorf("the second pull asked for %s, want only _id > 503", q)
	}
	out, _, err = runCmd(t, p.getenv, args("s3cret")...)
	if err != nil || !strings.Contains(out, "pulled 1 submission(s)") || !strings.Contains(out, "1 inserted, 0 updated") {
		t.Errorf("third pull: %v\n%s", err, out)
	}
	// --full: everything again, updated, never duplicated.
	out, _, err = runCmd(t, p.getenv, args("s3cret", "--full")...)
	if err != nil || !strings.Contains(out, "pulled 4 submission(s)") || !strings.Contains(out, "0 inserted, 3 updated") {
		t.Errorf("full pull: %v\n%s", err, out)
	}
	if h, c, _ := p.counts(t); h != 3 || c != 4 {
		t.Errorf("after the pulls: %d households, %d children; want 3, 4", h, c)
	}

	// A server down for good: the pull gives up after its retries and changes nothing.
	srv.mu.Lock()
	srv.failNext = 100
	srv.mu.Unlock()
	_, _, err = runCmd(t, p.getenv, args("s3cret", "--full")...)
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "gave up after 5 attempts") {
		t.Errorf("server down: %v", err)
	}
}

// odkSubmission is one entity of GET /v1/projects/N/forms/F.svc/Submissions?$expand=*.
func odkSubmission(uuid, date string, kids int, badAge bool) map[string]any {
	var children []any
	for i := 0; i < kids; i++ {
		age := any(9 + i)
		if badAge {
			age = 40
		}
		children = append(children, map[string]any{"__id": fmt.Sprintf("%x", i+1), "age": age, "sex": "male", "school_status": "enrolled",
			"harvest_absence_days": 0, "works": "no", "work_hours_week": nil, "work_hours_day": nil, "work_school_hours": nil,
			"tasks": nil, "gts_symptoms": nil, "disability": "no", "special_needs": "no", "orphan": "no"})
	}
	return map[string]any{
		"__id": "uuid:" + uuid,
		"__system": map[string]any{"submissionDate": date, "updatedAt": nil, "submitterId": "5", "submitterName": "enumerator 1",
			"attachmentsPresent": 0, "attachmentsExpected": 0, "status": nil, "reviewState": nil, "deviceId": "collect:abc", "edits": 0, "formVersion": "2026112601"},
		"meta":    map[string]any{"instanceID": "uuid:" + uuid},
		"consent": "yes",
		"household": map[string]any{"kecamatan": "35.13.10", "village": "35.13.10.2006",
			"gps":        map[string]any{"type": "Point", "coordinates": []any{113.522, -7.813, 200}, "properties": map[string]any{"accuracy": 5}},
			"livelihood": "farm_labourer", "poverty_programme": "none", "caregiver_education": "primary", "single_parent": "no",
			"members": 4, "working_adults": 2},
		"children":                      children,
		"children@odata.navigationLink": "Submissions('uuid%3A" + uuid + "')/children",
	}
}

type odkServer struct {
	mu   sync.Mutex
	subs []map[string]any
	last string
	form string // the xmlFormId served; default kesempatan_household
}

func (o *odkServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last = r.URL.RawQuery
	if u, pw, ok := r.BasicAuth(); !ok || u != "staff@example.org" || pw != "pa55" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"Could not authenticate with the provided credentials.","code":401.2}`))
		return
	}
	form := o.form
	if form == "" {
		form = "kesempatan_household"
	}
	if r.URL.Path != "/v1/projects/7/forms/"+form+".svc/Submissions" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	var after time.Time
	if f := q.Get("$filter"); f != "" {
		after, _ = time.Parse(time.RFC3339Nano, strings.TrimPrefix(f, "__system/submissionDate gt "))
	}
	var match []map[string]any
	for _, s := range o.subs {
		d, _ := time.Parse(time.RFC3339Nano, s["__system"].(map[string]any)["submissionDate"].(string))
		if d.After(after) {
			match = append(match, s)
		}
	}
	skip, _ := strconv.Atoi(q.Get("$skip"))
	top, _ := strconv.Atoi(q.Get("$top"))
	end := min(skip+top, len(match))
	page := map[string]any{"@odata.context": "http://" + r.Host + "/v1/projects/7/forms/kesempatan_household.svc/$metadata#Submissions",
		"@odata.count": len(match), "value": match[min(skip, len(match)):end]}
	if end < len(match) {
		q.Set("$skip", strconv.Itoa(end))
		page["@odata.nextLink"] = "http://" + r.Host + r.URL.Path + "?" + q.Encode()
	}
	json.NewEncoder(w).Encode(page)
}

func TestImportODKPull(t *testing.T) {
	fastPulls(t)
	p := newPullDB(t)
	srv := &odkServer{subs: []map[string]any{
		odkSubmission("o-0001", "2026-04-01T03:00:00.000Z", 2, false),
		odkSubmission("o-0002", "2026-04-01T04:00:00.000Z", 0, false),
		odkSubmission("o-0003", "2026-04-02T05:00:00.000Z", 1, false),
	}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	args := func(pw string, extra ...string) []string {
		return append([]string{"import", "odk", "--server", ts.URL, "--project", "7", "--form", "kesempatan_household",
			"--user", "staff@example.org", "--password-file", secretFile(t, pw)}, extra...)
	}
	if _, _, err := runCmd(t, p.getenv, args("nope")...); err == nil || !strings.Contains(err.Error(), "refused the credentials (HTTP 401") {
		t.Fatalf("wrong password: %v", err)
	}
	out, _, err := runCmd(t, p.getenv, args("pa55")...)
	if err != nil || !strings.Contains(out, "pulled 3 submission(s) in 2 page(s)") || !strings.Contains(out, "3 inserted") || !strings.Contains(out, "children: 3 loaded") {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	var lat, lon float64
	var precision float32
	if err := p.db.Pool.QueryRow(context.Background(), `SELECT ST_Y(geom), ST_X(geom), gps_precision_m FROM household WHERE survey_uuid = 'o-0001'`).Scan(&lat, &lon, &precision); err != nil {
		t.Fatal(err)
	}
	if lat != -7.813 || lon != 113.522 || precision != 5 {
		t.Errorf("GeoJSON point read as %v %v (accuracy %v), want -7.813 113.522 (5)", lat, lon, precision)
	}

	// Incremental, and all-or-nothing: a new submission with a bad child is
	// refused whole, and the cursor stays, so the next pull asks again.
	srv.mu.Lock()
	srv.subs = append(srv.subs, odkSubmission("o-0004", "2026-04-03T06:00:00.000Z", 1, true))
	srv.mu.Unlock()
	_, _, err = runCmd(t, p.getenv, args("pa55")...)
	if err == nil || !strings.Contains(err.Error(), "1 rejected row(s)") || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("pull with a bad child: %v", err)
	}
	srv.mu.Lock()
	filter, _ := url.QueryUnescape(srv.last)
	srv.subs[3] = odkSubmission("o-0004", "2026-04-03T06:00:00.000Z", 1, false) // fixed on the server
	srv.mu.Unlock()
	if !strings.Contains(filter, "__system/submissionDate gt 2026-04-02T05:00:00.000Z") {
		t.Errorf("incremental pull asked %s", filter)
	}
	out, _, err = runCmd(t, p.getenv, args("pa55")...)
	if err != nil || !strings.Contains(out, "pulled 1 submission(s)") || !strings.Contains(out, "1 inserted") {
		t.Errorf("pull after the fix: %v\n%s", err, out)
	}
	if h, c, _ := p.counts(t); h != 4 || c != 4 {
		t.Errorf("%d households, %d children; want 4, 4", h, c)
	}
}
