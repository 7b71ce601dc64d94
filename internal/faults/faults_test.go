package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/demo"
	"github.com/kesempatan/riskmap/internal/httpapi"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/localdb"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// TestRestartUnderLoad stops the database (a fast shutdown, as a restart
// or an upgrade does) for 9 s while 4 staff post visits and 4 clients
// read, and starts it again: every answer is a 2xx or a 503 with
// Retry-After (no 500: queries cut by the shutdown, 57P01, and
// connections refused while it shuts down, 57P03, are unavailability),
// the service comes back by itself, and every acknowledged visit is in
// the database exactly once.
func TestRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL clusters: make test runs it, make check does not")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := privateCluster(t)
	db := openMigrated(t, c.URL())
	dbtest.LoadRealRegion(t, db, 5000, 1)
	srv, logs := serveFormation(t, c.URL(), "")
	key, keyID, cases := staffKey(t, db)

	l := newLoad(srv.URL, key, cases, readPaths(places(t, db, cases[0])))
	l.start(4, 4)
	time.Sleep(2 * time.Second)
	stopped := time.Now()
	if err := c.Down(ctx); err != nil {
		t.Fatal(err)
	}
	downFor := time.Since(stopped)
	time.Sleep(9*time.Second - downFor)
	if err := c.Up(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	write, read := waitResumed(t, l, stopped, started, 30*time.Second)
	time.Sleep(2 * time.Second)
	l.finish()

	t.Logf("database stopped for 9 s (fast shutdown took %s); longest time without an acknowledged write %s, without a read %s", downFor.Round(time.Millisecond), write, read)
	if limit := 9*time.Second + downFor + 5*time.Second; write > limit || read > limit {
		t.Errorf("service came back %s/%s after the outage began, later than %s", write, read, limit)
	}
	vps, rps := l.rate()
	t.Logf("answers by status: %v; visits acknowledged: %d (%.0f a second over %s, outage included; %.0f reads a second), posted again after a 503 or no answer: %d",
		l.statuses, len(l.acked), vps, l.ended.Sub(l.began).Round(time.Second), rps, l.retries)
	if l.statuses[503] == 0 {
		t.Errorf("no 503 while the database was down: the test did not see the outage (%v)", l.statuses)
	}
	checkLoad(t, l, logs)
	checkVisits(t, db, l, keyID)
}

// TestFailover kills the primary of a pg_auto_failover formation (SIGKILL
// to its keeper and its postmaster, as a lost machine) twice under load:
// once in the middle of a survey import, once in the middle of a scoring
// run. The monitor promotes the synchronous standby and riskmap, on
// multi-host URLs (target_session_attrs=read-write for writes,
// prefer-standby for reads), follows it without a restart. Afterwards
// every visit acknowledged with a 2xx is in the database exactly once and
// nothing else is, no answer was a 500, the cut import and the cut run
// left nothing behind, and writes resumed within failoverBound.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL clusters: make test runs it, make check does not")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	f, err := localdb.StartFormation(ctx, io.Discard, "riskmap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Stop(context.Background()) })
	writeURL := f.URL("riskmap", "postgres", "read-write")
	db := openMigrated(t, writeURL)
	dbtest.LoadRealRegion(t, db, 20000, 1)
	srv, logs := serveFormation(t, writeURL, f.URL("riskmap", "postgres", "prefer-standby"))
	key, keyID, cases := staffKey(t, db)
	m, err := risk.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	survey := dbtest.ExtraSurvey(t, db, surveySize, 7)

	l := newLoad(srv.URL, key, cases, readPaths(places(t, db, cases[0])))
	l.start(4, 4)
	time.Sleep(3 * time.Second)

	// 1. The primary is lost in the middle of an import.
	before := tableCounts(t, db)
	imported := make(chan error, 1)
	go func() { imported <- importSurvey(ctx, db, survey) }()
	waitActive(t, db, "import", "%household%")
	primary, promoted, lost := killPrimary(t, f)
	if err := <-imported; !postgres.Unavailable(err) {
		t.Fatalf("the import cut by the failover returned %v, want an unavailable database", err)
	}
	write, read := waitResumed(t, l, lost, lost.Add(promoted), failoverBound)
	t.Logf("primary %s killed during an import: standby promoted after %s; longest time without an acknowledged write %s, without a read %s", primary.Name, promoted, write, read)
	if write > failoverBound {
		t.Errorf("writes stopped for %s, longer than %s", write, failoverBound)
	}
	if after := tableCounts(t, db); after != before {
		t.Errorf("the cut import left something behind: before %v, after %v", before, after)
	}
	if err := importSurvey(ctx, db, survey); err != nil {
		t.Fatalf("the import again, on the new primary: %v", err)
	}
	if after := tableCounts(t, db); after.households != before.households+surveySize || after.imports != before.imports+1 {
		t.Errorf("the import again: %v, want %d more households and one more import than %v", after, surveySize, before)
	}

	// 2. The lost node rejoins as the standby; the new primary is lost in
	// the middle of a scoring run.
	if err := f.Restart(primary); err != nil {
		t.Fatal(err)
	}
	rejoin := time.Now()
	if err := f.WaitSynchronous(ctx, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s rejoined as the synchronous standby in %s", primary.Name, time.Since(rejoin).Round(100*time.Millisecond))
	before = tableCounts(t, db)
	scored := make(chan error, 1)
	go func() { _, err := db.Score(ctx, m, 0); scored <- err }()
	waitActive(t, db, "scoring run", "%")
	time.Sleep(time.Second)
	second, promoted, lost := killPrimary(t, f)
	if err := <-scored; !postgres.Unavailable(err) {
		t.Fatalf("the scoring run cut by the failover returned %v, want an unavailable database", err)
	}
	write2, read2 := waitResumed(t, l, lost, lost.Add(promoted), failoverBound)
	t.Logf("primary %s killed during a scoring run: standby promoted after %s; longest time without an acknowledged write %s, without a read %s", second.Name, promoted, write2, read2)
	if write2 > failoverBound {
		t.Errorf("writes stopped for %s, longer than %s", write2, failoverBound)
	}
	if after := tableCounts(t, db); after.runs != before.runs || after.releases != before.releases {
		t.Errorf("the cut scoring run left something behind: before %v, after %v", before, after)
	}
	if problems, err := db.DisclosureCheck(ctx, m); err != nil || len(problems) > 0 {
		t.Errorf("disclosure check after the cut run: %v %v", err, problems)
	}
	if _, err := db.Score(ctx, m, 0); err != nil {
		t.Fatalf("the scoring run again, on the new primary: %v", err)
	}
	if problems, err := db.DisclosureCheck(ctx, m); err != nil || len(problems) > 0 {
		t.Errorf("disclosure check after the run again: %v %v", err, problems)
	}
	time.Sleep(2 * time.Second)
	l.finish()
	_, answers := l.counts()
	vps, rps := l.rate()
	t.Logf("answers by status: %v; visits acknowledged: %d (%.0f a second over %s, two failovers, an import and two scoring runs included; %.0f reads a second), posted again after a 503 or no answer: %d; %d answers in all",
		l.statuses, len(l.acked), vps, l.ended.Sub(l.began).Round(time.Second), rps, l.retries, answers)
	checkLoad(t, l, logs)
	checkVisits(t, db, l, keyID)
}

// failoverBound is how soon writes must resume after the primary is lost
// (issue 24 aims under 30 s on a 2-core machine).
const failoverBound = 30 * time.Second

const surveySize = 30000

// killPrimary kills the formation's primary and waits for the monitor to
// promote the standby; it returns the lost node, how long the promotion
// took and when the primary was lost.
func killPrimary(t *testing.T, f *localdb.Formation) (*localdb.Node, time.Duration, time.Time) {
	t.Helper()
	ctx := context.Background()
	primary, err := f.WaitPrimary(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lost := time.Now()
	if err := f.Kill(primary); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(failoverBound)
	for {
		next, err := f.WaitPrimary(ctx, time.Until(deadline))
		if err != nil {
			t.Fatalf("no standby promoted within %s of losing %s: %v", failoverBound, primary.Name, err)
		}
		if next != primary {
			return primary, time.Since(lost).Round(100 * time.Millisecond), lost
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitResumed waits until a visit has been acknowledged and a read
// answered 200 after until, and returns the longest outage of writes
// and of reads since since.
func waitResumed(t *testing.T, l *load, since, until time.Time, limit time.Duration) (write, read time.Duration) {
	t.Helper()
	deadline := since.Add(limit)
	for {
		write, read, ok := l.outage(since, until)
		if ok {
			return write.Round(100 * time.Millisecond), read.Round(100 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not resume within %s (longest gaps: writes %s, reads %s; answers %v)", limit, write, read, l.statuses)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitActive waits until the database runs a statement of riskmap's other
// than the service's own that matches like, so that what the test cuts is
// cut in the middle.
func waitActive(t *testing.T, db *postgres.DB, what, like string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'riskmap' AND state = 'active' AND usename = current_user AND pid <> pg_backend_pid()
			  AND query ILIKE $1 AND query NOT ILIKE '%case_visit%' AND query NOT ILIKE '%audit_log%'`, like).Scan(&n)
		if err == nil && n > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the %s never showed as active", what)
}

type counts struct{ households, children, imports, runs, releases int64 }

func tableCounts(t *testing.T, db *postgres.DB) counts {
	t.Helper()
	var c counts
	err := db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM household), (SELECT count(*) FROM child),
		(SELECT count(*) FROM import_run), (SELECT count(*) FROM score_run), (SELECT count(*) FROM release)`).
		Scan(&c.households, &c.children, &c.imports, &c.runs, &c.releases)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkLoad fails the test on any answer that was neither a 2xx nor a
// 503 with Retry-After, and on any error the service logged.
func checkLoad(t *testing.T, l *load, logs *syncBuffer) {
	t.Helper()
	for i, b := range l.bad {
		if i == 20 {
			t.Errorf("... and %d more", len(l.bad)-20)
			break
		}
		t.Error(b)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("the service logged an error: %s", line)
		}
	}
}

// checkVisits checks the database against what the clients were told:
// every acknowledged visit is there exactly once, with the id it was
// acknowledged with, and no visit is there that was not acknowledged.
func checkVisits(t *testing.T, db *postgres.DB, l *load, keyID int64) {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT submission_id, array_agg(id ORDER BY id) FROM case_visit
		WHERE submission_id LIKE 'http:%' GROUP BY submission_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string][]int64{}
	for rows.Next() {
		var sub string
		var ids []int64
		if err := rows.Scan(&sub, &ids); err != nil {
			t.Fatal(err)
		}
		stored[sub] = ids
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost, twice, unacked := 0, 0, 0
	for k, id := range l.acked {
		ids := stored[fmt.Sprintf("http:%d:%s", keyID, k)]
		switch {
		case len(ids) == 0:
			lost++
			if lost <= 5 {
				t.Errorf("visit %s was acknowledged (id %d) and is not in the database", k, id)
			}
		case len(ids) > 1:
			twice++
			t.Errorf("visit %s is in the database %d times: %v", k, len(ids), ids)
		case ids[0] != id:
			t.Errorf("visit %s was acknowledged as %d and is stored as %d", k, id, ids[0])
		}
	}
	for sub := range stored {
		k := strings.TrimPrefix(sub, fmt.Sprintf("http:%d:", keyID))
		if _, ok := l.acked[k]; !ok {
			unacked++
			t.Errorf("visit %s is in the database and was never acknowledged", sub)
		}
	}
	t.Logf("visits: %d acknowledged, %d stored; lost %d, duplicated %d, stored unacknowledged %d", len(l.acked), len(stored), lost, twice, unacked)
	if len(l.acked) < 100 {
		t.Errorf("only %d visits acknowledged: the load did not run", len(l.acked))
	}
}

// privateCluster starts a PostgreSQL cluster of the test's own, on a free
// port, that the test may stop and start.
func privateCluster(t *testing.T) localdb.Cluster {
	t.Helper()
	parent, err := os.MkdirTemp("/var/tmp", "riskmap-restart-")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := localdb.Cluster{Dir: filepath.Join(parent, "pg"), Port: port}
	if err := c.Up(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Down(context.Background())
		os.RemoveAll(parent)
	})
	return c
}

func openMigrated(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// serveFormation serves the database through the real router as the
// restricted role `riskmap serve` uses, with reads on readURL if given,
// logging as JSON into the buffer it returns.
func serveFormation(t *testing.T, url, readURL string) (*httptest.Server, *syncBuffer) {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.OpenAs(ctx, url, postgres.ServeRole, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if readURL != "" {
		if err := db.AttachReplica(ctx, readURL, postgres.ServeRole, ""); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncBuffer{}
	srv := httptest.NewServer(nil)
	srv.Config.Handler = httpapi.NewServer(db, slog.New(slog.NewJSONHandler(logs, nil)), httpapi.Options{PublicURL: srv.URL}).Handler()
	t.Cleanup(srv.Close)
	return srv, logs
}

// staffKey makes a staff key for the kecamatan of the first cases and
// returns it, its id and the cases it may visit.
func staffKey(t *testing.T, db *postgres.DB) (string, int64, []int64) {
	t.Helper()
	ctx := context.Background()
	var areas []string
	if err := db.Pool.QueryRow(ctx, `SELECT array_agg(k) FROM (SELECT DISTINCT left(village_code, 8) AS k FROM child_case ORDER BY 1 LIMIT 8) s`).Scan(&areas); err != nil || len(areas) == 0 {
		t.Fatalf("no cases to visit: %v", err)
	}
	key, k, err := db.CreateKey(ctx, "fault test", "staff", areas, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cases []int64
	if err := db.Pool.QueryRow(ctx, `SELECT array_agg(id ORDER BY id) FROM child_case WHERE left(village_code, 8) = ANY ($1)`, areas).Scan(&cases); err != nil {
		t.Fatal(err)
	}
	return key, k.ID, cases
}

// places returns a case's village and kecamatan, and the case, for the
// readers' paths.
func places(t *testing.T, db *postgres.DB, caseID int64) (string, string, int64) {
	t.Helper()
	var village string
	if err := db.Pool.QueryRow(context.Background(), `SELECT village_code FROM child_case WHERE id = $1`, caseID).Scan(&village); err != nil {
		t.Fatal(err)
	}
	return village, village[:8], caseID
}

// importSurvey imports a generated survey as `riskmap import survey` does.
func importSurvey(ctx context.Context, db *postgres.DB, dir string) error {
	hf, err := os.Open(filepath.Join(dir, demo.HouseholdsFile))
	if err != nil {
		return err
	}
	defer hf.Close()
	cf, err := os.Open(filepath.Join(dir, demo.ChildrenFile))
	if err != nil {
		return err
	}
	defer cf.Close()
	m, err := risk.DefaultModel()
	if err != nil {
		return err
	}
	in := postgres.SurveyImport{HouseholdFile: demo.HouseholdsFile, ChildFile: demo.ChildrenFile, MaxVillageDistance: 1000, Identity: m.Identity}
	if in.Households, err = ingest.NewHouseholdReader(hf, in.HouseholdFile); err != nil {
		return err
	}
	if in.Children, err = ingest.NewChildReader(cf, in.ChildFile, in.Households); err != nil {
		return err
	}
	_, err = db.ImportSurvey(ctx, in, postgres.ImportOptions{Synthetic: true})
	return err
}

// syncBuffer is a bytes.Buffer safe for the service's concurrent logging.
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
