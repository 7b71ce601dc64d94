package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// syncBuffer is a bytes.Buffer safe to write from the server's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envWith(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func runCmd(t *testing.T, getenv func(string) string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr syncBuffer
	err := run(context.Background(), args, getenv, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestHelp(t *testing.T) {
	getenv := envWith(nil)
	out, _, err := runCmd(t, getenv)
	if err != nil || !strings.Contains(out, "Commands:") {
		t.Fatalf("riskmap alone = %v, %q; want the list of commands", err, out)
	}
	for name := range commands() {
		if !strings.Contains(out, "  "+name+" ") {
			t.Errorf("riskmap alone does not list %s", name)
		}
		_, errOut, err := runCmd(t, getenv, name, "--help")
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("riskmap %s --help = %v", name, err)
		}
		if !strings.Contains(errOut, "Usage: riskmap "+name) {
			t.Errorf("riskmap %s --help printed %q", name, errOut)
		}
	}
	if _, _, err := runCmd(t, getenv, "frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command = %v", err)
	}
}

func TestImportRejectFile(t *testing.T) {
	getenv := envWith(map[string]string{"DATABASE_URL": dbtest.URL(t)})
	root := dbtest.RepoRoot(t)
	if _, _, err := runCmd(t, getenv, "import", "boundaries", "--level", "desa", filepath.Join(root, "geodata", "demo", "villages.geojson")); err != nil {
		t.Fatal(err)
	}
	hh := filepath.Join(root, "internal", "postgres", "testdata", "kobo_households.csv")
	ch := filepath.Join(root, "internal", "postgres", "testdata", "kobo_children.csv")

	_, _, err := runCmd(t, getenv, "import", "survey", hh, "--children", ch)
	if err == nil || !strings.Contains(err.Error(), "7 rejected row(s); the import changed nothing") ||
		!strings.Contains(err.Error(), "kobo_children.csv: row 3 (k-0001): children/age: \"abc\" is not a whole number") {
		t.Fatalf("import with bad rows = %v, want the rejected rows listed", err)
	}

	rejects := filepath.Join(t.TempDir(), "rejects.csv")
	out, errOut, err := runCmd(t, getenv, "import", "survey", hh, "--children", ch, "--reject-file", rejects)
	if err == nil || !strings.Contains(err.Error(), "7 row(s) rejected") || !strings.Contains(err.Error(), "--allow-rejects") {
		t.Fatalf("import with --reject-file and rejected rows = %v, want a non-zero exit that says so", err)
	}
	if !strings.Contains(out, "5 read, 2 inserted, 0 updated, 0 repaired, 7 rejected") || !strings.Contains(out, "children: 3 loaded") {
		t.Errorf("summary = %q", out)
	}
	if !strings.Contains(errOut, "7 rejected row(s) written to "+rejects) {
		t.Errorf("stderr = %q", errOut)
	}
	f, err := os.Open(rejects)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 8 || strings.Join(recs[0], ",") != "file,row,column,code,reason,raw" {
		t.Fatalf("reject file = %v, want a header and 7 rows", recs)
	}
	for _, r := range recs[1:] {
		if r[0] == "" || r[1] == "" || r[4] == "" || r[5] == "" {
			t.Errorf("reject row %v lacks file, row, reason or the raw row", r)
		}
	}
	// The point in the sea was rejected after streaming: its raw row comes back from the file.
	found := false
	for _, r := range recs[1:] {
		if r[1] == "4" && strings.HasSuffix(r[0], "kobo_households.csv") {
			found = strings.Contains(r[5], "-7.65 113.5 0 8") && strings.Contains(r[4], "outside every village")
		}
	}
	if !found {
		t.Errorf("the household in the sea is not in the reject file with its row: %v", recs)
	}
	// --allow-rejects: exit 0 for scripts that read the reject file themselves.
	out, _, err = runCmd(t, getenv, "import", "survey", hh, "--children", ch, "--reject-file", rejects, "--allow-rejects")
	if err != nil || !strings.Contains(out, "0 inserted, 2 updated") {
		t.Errorf("import --allow-rejects = %v, %q; want exit 0 and the 2 households updated", err, out)
	}
}

func TestDemoLoadAndServe(t *testing.T) {
	url := dbtest.URL(t)
	getenv := envWith(map[string]string{"DATABASE_URL": url})
	demoDir := filepath.Join(dbtest.RepoRoot(t), "geodata", "demo")
	out, _, err := runCmd(t, getenv, "demo", "load", "--dir", demoDir, "--if-empty")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"boundaries/desa from " + filepath.Join(demoDir, "villages.geojson") + ": 44 read, 44 inserted",
		"calendar from", "12 read, 12 inserted",
		"survey from " + filepath.Join(demoDir, "households.csv") + ": 2000 read, 2000 inserted, 0 updated, 0 repaired, 0 rejected",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo load output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "scored with model kesempatan-v1") || !strings.Contains(out, "2000 households") {
		t.Errorf("demo load did not score the demo:\n%s", out)
	}
	targets, _, err := runCmd(t, getenv, "targets", "--month", "8", "--area", "35.13.13", "--limit", "50")
	if err != nil || !strings.Contains(targets, "Alasnyiur") || !strings.Contains(targets, "(90% interval)") || !strings.Contains(targets, "p_top10") || !strings.Contains(targets, "top-10 set") ||
		!regexp.MustCompile(`\d\.\d\d (pasti|mungkin|kecil kemungkinan) +in +35\.`).MatchString(targets) ||
		!(strings.Contains(targets, " mungkin ") || strings.Contains(targets, " pasti ")) {
		t.Errorf("targets = %v:\n%s", err, targets)
	}
	plan, _, err := runCmd(t, getenv, "plan-survey", "--households", "200", "--area", "35.13.13")
	if err != nil || !strings.Contains(plan, "200 households in") || !strings.Contains(plan, "after this plan") {
		t.Errorf("plan-survey = %v:\n%s", err, plan)
	}
	if _, _, err := runCmd(t, getenv, "plan-survey", "--households", "5"); err == nil || !strings.Contains(err.Error(), "households 5") {
		t.Errorf("plan-survey --households 5 = %v, want an error naming it", err)
	}
	hh, _, err := runCmd(t, getenv, "targets", "--month", "8", "--area", "35.13.13.2003", "--households", "--limit", "3")
	if err != nil || strings.Count(hh, "35.13.13.2003 Alasnyiur") != 3 {
		t.Errorf("household targets = %v:\n%s", err, hh)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"version":"x"}`), 0o644)
	if _, _, err := runCmd(t, getenv, "score", "--model", bad); err == nil || !strings.Contains(err.Error(), "model "+bad+": ") || !strings.Contains(err.Error(), "weights sum to 0, want 100") {
		t.Errorf("score with a bad model = %v", err)
	}
	if !strings.Contains(out, "audit passed in") {
		t.Errorf("score does not report its publication:\n%s", out)
	}
	// The scoring run renders the map's low-zoom tiles; render-tiles does
	// it again on its own.
	rendered, _, err := runCmd(t, getenv, "render-tiles")
	if err != nil {
		t.Fatalf("render-tiles: %v", err)
	}
	for _, o := range []string{out, rendered} {
		var n int
		if i := strings.Index(o, "  tiles:      "); i < 0 {
			t.Errorf("no tiles rendered:\n%s", o)
		} else if fmt.Sscanf(o[i+len("  tiles:      "):], "%d of zooms", &n); n < 20 {
			t.Errorf("%d tiles rendered:\n%s", n, o)
		}
	}
	check, _, err := runCmd(t, getenv, "disclosure-check")
	if err != nil || !strings.Contains(check, "disclosure check passed") {
		t.Errorf("disclosure-check on a fresh publication = %v:\n%s", err, check)
	}
	// A publication changed behind riskmap's back (a count of 3 put back
	// where 5 was published) is caught, with a non-zero exit.
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Pool.Exec(context.Background(), `UPDATE area_public SET hazardous = 3, prevalence = NULL
		WHERE level = 'desa' AND code = (SELECT min(code) FROM area_public WHERE level = 'desa' AND hazardous = 5)`); err != nil {
		t.Fatal(err)
	}
	check, _, err = runCmd(t, getenv, "disclosure-check")
	if err == nil || !strings.Contains(check, "hazardous: published 3 is not a multiple of 5") {
		t.Errorf("disclosure-check on a tampered publication = %v:\n%s", err, check)
	}
	if _, _, err := runCmd(t, getenv, "score"); err != nil {
		t.Fatal(err)
	}
	verify, _, err := runCmd(t, getenv, "audit", "--verify")
	if err != nil || !strings.Contains(verify, "audit log intact") {
		t.Errorf("audit --verify = %v, %q", err, verify)
	}
	again, _, err := runCmd(t, getenv, "demo", "load", "--dir", demoDir, "--if-empty")
	if err != nil || !strings.Contains(again, "holds 44 villages already") {
		t.Errorf("second demo load --if-empty = %v, %q", err, again)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, getenv, &stdout, &stderr) }()
	base := ""
	addr := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		base = addr.FindString(stdout.String())
	}
	if base == "" {
		cancel()
		t.Fatalf("serve did not start: %s %s", stdout.String(), stderr.String())
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never answered 200: %v", err)
		}
	}
	resp, err := http.Get(base + "/collections/villages/items")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var fc struct{ Features []json.RawMessage }
	if err := json.Unmarshal(body, &fc); err != nil || len(fc.Features) != 44 {
		t.Errorf("villages layer: %v, %d features, want 44", err, len(fc.Features))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after shutdown = %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("serve did not shut down")
	}
}

func TestCommittedFormIsBuilt(t *testing.T) {
	root := dbtest.RepoRoot(t)
	choices, err := choicesWithAreas(filepath.Join(root, BoundaryDir))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(root, ChoicesFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, choices) {
		t.Errorf("%s does not list the kecamatan and villages of %s; run make form", ChoicesFile, BoundaryDir)
	}
	want, err := buildForm(choices)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, FormFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what `riskmap form` writes from geodata/forms/*.csv; run make form", FormFile)
	}
	for file, kobo := range map[string]bool{VisitFile: false, VisitKoBoFile: true} {
		wantVisit, err := buildVisitForm(kobo)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(root, file)); err != nil || !bytes.Equal(got, wantVisit) {
			t.Errorf("%s is not what `riskmap form` writes from geodata/forms/visit/*.csv (%v); run make form", file, err)
		}
	}
}

func TestKeysAndAudit(t *testing.T) {
	getenv := envWith(map[string]string{"DATABASE_URL": dbtest.URL(t)})
	key, errOut, err := runCmd(t, getenv, "keys", "create", "--role", "staff", "--area", "35.13.13", "--name", "Besuk facilitator")
	if err != nil || !strings.HasPrefix(key, "rk_") || !strings.Contains(errOut, "shown once") {
		t.Fatalf("keys create = %v, %q, %q", err, key, errOut)
	}
	if _, _, err := runCmd(t, getenv, "keys", "create", "--role", "staff", "--name", "nowhere"); err == nil || !strings.Contains(err.Error(), "needs --area") {
		t.Errorf("a staff key without areas = %v", err)
	}
	if _, _, err := runCmd(t, getenv, "keys", "create", "--role", "king", "--name", "x"); err == nil {
		t.Error("an unknown role was accepted")
	}
	list, _, err := runCmd(t, getenv, "keys", "list")
	if err != nil || !strings.Contains(list, "Besuk facilitator") || strings.Contains(list, strings.TrimSpace(key)) {
		t.Errorf("keys list = %v:\n%s (it must never show the key)", err, list)
	}
	out, _, err := runCmd(t, getenv, "keys", "revoke", "1")
	if err != nil || !strings.Contains(out, "revoked key 1") {
		t.Errorf("keys revoke = %v, %q", err, out)
	}
	if _, _, err := runCmd(t, getenv, "keys", "revoke", "1"); err == nil {
		t.Error("revoking twice succeeded")
	}
	audit, _, err := runCmd(t, getenv, "audit", "--since", "1h")
	if err != nil || !strings.HasPrefix(audit, "time") {
		t.Errorf("audit = %v, %q", err, audit)
	}
}

// `make run`'s data: the real villages with a synthetic survey, the four
// pilots surveyed in full (as the programme did), so each shows its
// figures rather than "sampel kurang".
func TestDemoLoadRealPilots(t *testing.T) {
	url := dbtest.URL(t)
	t.Chdir(dbtest.RepoRoot(t))
	getenv := envWith(map[string]string{"DATABASE_URL": url})
	out, _, err := runCmd(t, getenv, "demo", "load", "--real", "--households", "6000")
	if err != nil {
		t.Fatalf("demo load --real: %v\n%s", err, out)
	}
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Pool.Query(context.Background(), `SELECT v.name, a.status, a.households, a.score
		FROM area_public a JOIN village v ON v.code = a.code
		WHERE a.level = 'desa' AND a.code IN ('35.13.13.2003', '35.13.13.2015', '35.13.10.2010', '35.13.10.2006')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name, status string
		var households *int
		var score *float64
		if err := rows.Scan(&name, &status, &households, &score); err != nil {
			t.Fatal(err)
		}
		n++
		// The follow-up round shown resurveys 88% of the baseline: Alasnyiur,
		// the smallest (1.2 km2, a census of 280), keeps about 250.
		if status != "published" || households == nil || *households < 200 || score == nil {
			t.Errorf("pilot %s: %s, households %v, score %v; want published from a full survey", name, status, deref(households), deref(score))
		}
	}
	if n != 4 {
		t.Errorf("%d pilots in area_public, want 4", n)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
