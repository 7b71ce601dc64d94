package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/localdb"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// TestReadReplica serves from a hot standby made with pg_basebackup -R in
// the test cluster (serve --read-database-url): with the standby's replay
// paused, a change on the primary is not served (the reads come from the
// standby), while the audit of a staff read and a posted visit are written
// to the primary, a revoked key is refused at once, and the visit's answer
// is the primary's; once replay resumes, the change is served.
func TestReadReplica(t *testing.T) {
	ctx := context.Background()
	owner, primaryURL := dbtest.NewDemo(t)
	u, _ := url.Parse(primaryURL)
	primaryPort, _ := strconv.Atoi(u.Port())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	standby, err := localdb.StartStandby(ctx, primaryPort, port)
	if err != nil {
		t.Fatalf("pg_basebackup -R standby: %v", err)
	}
	// Cleanups run last first: the standby stops, then its slot goes.
	t.Cleanup(func() {
		if _, err := owner.Pool.Exec(context.Background(), `SELECT pg_drop_replication_slot($1)`, standby.Slot); err != nil {
			t.Errorf("drop the standby's replication slot %s: %v", standby.Slot, err)
		}
	})
	t.Cleanup(func() { standby.Stop(context.Background()) })
	su := *u
	su.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	standbyURL := su.String()
	superStandby, err := postgres.Open(ctx, standbyURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(superStandby.Close)

	served, err := postgres.OpenAs(ctx, primaryURL, postgres.ServeRole, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := served.AttachReplica(ctx, standbyURL, postgres.ServeRole, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(served.Close)
	if err := served.AttachReplica(ctx, primaryURL, postgres.ServeRole, ""); err == nil || !strings.Contains(err.Error(), "not a standby") {
		t.Errorf("the primary accepted as a replica: %v", err)
	}
	srv := serve(t, served)
	staff, _, err := owner.CreateKey(ctx, "Besuk facilitator", "staff", []string{"35.13.13"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	doomedKey, doomed, err := owner.CreateKey(ctx, "lost phone", "staff", []string{"35.13.13"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the standby has the keys, then freeze it.
	waitFor(t, standby.Dir, func() bool {
		var n int
		superStandby.Pool.QueryRow(ctx, `SELECT count(*) FROM api_key`).Scan(&n)
		return n >= 2
	})
	if _, err := superStandby.Pool.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	score := func() float64 {
		_, b := get(t, srv.URL+"/collections/villages/items/35.13.13.2003?f=json")
		var f struct {
			Properties struct {
				Score float64 `json:"score"`
			} `json:"properties"`
		}
		json.Unmarshal(b, &f)
		return f.Properties.Score
	}
	before := score()
	if _, err := owner.Pool.Exec(ctx, `UPDATE area_public SET score = 99.5 WHERE level = 'desa' AND code = '35.13.13.2003';
		INSERT INTO import_run (kind, file, started_at, inserted, updated, repaired, rejected) VALUES ('calendar', 'replica test', now(), 0, 0, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	if err := owner.RevokeKey(ctx, doomed.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // past the data version's TTL
	if s := score(); s != before || s == 99.5 {
		t.Errorf("with replay paused the standby served %v (before %v): reads are not coming from it", s, before)
	}
	// Writes and keys on the primary.
	var audits0, audits1 int
	owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&audits0)
	if resp, b := get(t, srv.URL+"/collections/households/items?limit=3", "Authorization", "Bearer "+staff); resp.StatusCode != 200 {
		t.Fatalf("staff read: %d %s", resp.StatusCode, b)
	}
	owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&audits1)
	if audits1 != audits0+1 {
		t.Errorf("the staff read added %d audit rows on the primary, want 1", audits1-audits0)
	}
	if resp, _ := get(t, srv.URL+"/collections/households/items?limit=3", "Authorization", "Bearer "+doomedKey); resp.StatusCode != 401 {
		t.Errorf("a key revoked on the primary, standby paused: %d, want 401", resp.StatusCode)
	}
	var caseID int64
	if err := owner.Pool.QueryRow(ctx, `SELECT id FROM child_case WHERE village_code LIKE '35.13.13.%' ORDER BY id LIMIT 1`).Scan(&caseID); err != nil {
		t.Fatal(err)
	}
	visit := fmt.Sprintf(`{"visited_on":%q,"kind":"remediation","outcome":"met","actions":["awareness"],"action_status":"delivered"}`, time.Now().Format(time.DateOnly))
	resp, b := post(t, fmt.Sprintf("%s/cases/%d/visits", srv.URL, caseID), visit, "Authorization", "Bearer "+staff, "Idempotency-Key", "replica-1")
	if resp.StatusCode != 201 || !strings.Contains(string(b), `"status":"remediated"`) {
		t.Errorf("visit with the standby paused: %d %s, want 201 and the primary's new status", resp.StatusCode, b)
	}
	// Replay resumes: the change is served.
	if _, err := superStandby.Pool.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, standby.Dir, func() bool { return score() == 99.5 })
}

// waitFor waits up to two minutes for the standby: it replays the WAL of
// the whole test cluster, and while other packages' tests run in parallel
// (make test) their scoring runs write a great deal of it (a 15-second
// wait once ran out under that load).
func waitFor(t *testing.T, dir string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		if ok() {
			return
		}
		time.Sleep(150 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "standby.log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	t.Fatalf("timed out waiting for the standby; its log ends:\n%s", b)
}
