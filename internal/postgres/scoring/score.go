// Package scoring is the scoring run and what it publishes: one
// transaction of named steps (classify children, score households,
// aggregate and roll up, the release bases, publish with the audit that
// withholds until no count is narrowed, hotspots, geomasks, the disclosure
// check, rounds and change, cases, the swap), and the ledger of releases.
// The rules are the domain's (risk); this package fetches and stores.
package scoring

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/postgres/cases"
	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Store is the scoring subject over a core.
type Store struct{ db *core.DB }

// New returns the scoring store over a core.
func New(db *core.DB) *Store { return &Store{db: db} }

// Stage is one timed step of a scoring run.
type Stage struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// ScoreRun is what one scoring run did.
type ScoreRun struct {
	ID           int64
	ModelVersion string
	// Round is the survey round the map and targets show (every round's
	// households are scored, and every round's figures published).
	Round       string
	Month       int // the month hotspots were computed for; 0 for the annual score
	Stages      []Stage
	Households  int
	Children    int
	Villages    int            // villages with a score (at least one surveyed household)
	Classes     map[string]int // children by classification
	Tiers       map[string]int // households by tier
	Hotspots    map[string]int // villages by hotspot class
	Publication PublicationSummary
	// Erasures is how many households erased since the previous run the
	// published figures stopped counting with this run.
	Erasures int
	// Cases: opened by this run, and open after it.
	CasesOpened, CasesOpen int
	// Release is the release the run published: a new one (NewRelease), or
	// the latest again when nothing published changed. Refreshed lists the
	// bases it took anew; Held what waits for more changes.
	Release    int64
	NewRelease bool
	Refreshed  []Refreshed
	Held       Held
	// Full: every household was classified and scored again; else only
	// those of the kabupaten in Rescored (their data changed since the
	// previous run, under the same model and scoring code), the others
	// kept as that run left them.
	Full     bool
	Rescored []string
}

// Score runs the risk model over the whole database in one transaction:
// classify every child, score every household (with its seasonal curve),
// aggregate villages and roll them up to kecamatan and kabupaten, and find
// hotspots. Readers see the previous run until it commits. Every step but the
// hotspot statistic is set-based SQL; the model reaches SQL as parameters.
// Under the model and scoring code of the previous run, only the children
// and households of the kabupaten whose data changed since are classified
// and scored again (scope); everything downstream reads every household.
func (st *Store) Score(ctx context.Context, m *risk.Model, month int) (ScoreRun, error) {
	return st.ScoreRound(ctx, m, month, "")
}

// ScoreRound is Score with the round the map shows named ("": the latest
// round with households).
func (st *Store) ScoreRound(ctx context.Context, m *risk.Model, month int, round string) (ScoreRun, error) {
	run := ScoreRun{ModelVersion: m.Version, Month: month, Classes: map[string]int{}, Tiers: map[string]int{}, Hotspots: map[string]int{}}
	if month < 0 || month > 12 {
		return run, risk.Errorf(risk.EINVALID, "month %d: want 1..12, or 0 for the annual score", month)
	}
	started := time.Now()
	tx, err := st.db.Pool.Begin(ctx)
	if err != nil {
		return run, err
	}
	defer tx.Rollback(ctx)
	// Hash joins and aggregates over millions of children stay in memory
	// with a larger work_mem; JIT costs more than it saves on these plans.
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off; SET LOCAL work_mem = '256MB'; SET LOCAL maintenance_work_mem = '256MB'"); err != nil {
		return run, err
	}
	// One run at a time, and no erasure during a run (erase_household takes
	// the same lock): an erased household cannot come back in the run's tables.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(scoring_lock())"); err != nil {
		return run, err
	}
	if round == "" {
		err = tx.QueryRow(ctx, `SELECT coalesce((SELECT r.id FROM survey_round r WHERE EXISTS (SELECT 1 FROM household h WHERE h.round_id = r.id)
			ORDER BY r.starts_on DESC, r.id DESC LIMIT 1), '')`).Scan(&round)
	} else {
		var ok bool
		err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM survey_round WHERE id = $1)`, round).Scan(&ok)
		if err == nil && !ok {
			return run, risk.Errorf(risk.EINVALID, "round %q: no such survey round (riskmap rounds lists them)", round)
		}
	}
	if err != nil {
		return run, err
	}
	run.Round = round
	if _, err := tx.Exec(ctx, `SELECT set_config('riskmap.round', $1, true)`, round); err != nil {
		return run, err
	}
	// Which households the run classifies and scores again (migration 024).
	sc, err := readScope(ctx, tx, m)
	if err != nil {
		return run, err
	}
	if err := sc.prepare(ctx, tx); err != nil {
		return run, err
	}
	run.Full, run.Rescored = sc.full, sc.kabupaten
	var shown publication // the shown round's counts and publication, reused for its round_area
	var rel releaseState
	stage := func(name string, f func() error) error {
		t := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("score: %s: %w", name, err)
		}
		run.Stages = append(run.Stages, Stage{Name: name, Seconds: time.Since(t).Seconds()})
		return nil
	}
	steps := []struct {
		name string
		f    func() error
	}{
		{"classify children", func() error { return classifyChildren(ctx, tx, m, sc) }},
		{"locate tobacco near households", func() error { return nearFields(ctx, tx, m, sc) }},
		{"score households", func() error { return scoreHouseholds(ctx, tx, m, sc) }},
		{"aggregate villages", func() error { return scoreVillages(ctx, tx, m) }},
		{"roll up kecamatan and kabupaten", func() error { return rollUp(ctx, tx, m) }},
		{"release bases", func() error { return refreshBases(ctx, tx, m, &rel) }},
		{"publish", func() error { return publish(ctx, tx, m, &run.Publication, &shown) }},
		{"hotspots", func() error { return hotspots(ctx, tx, m, month, nil) }},
		{"geomask households", func() error { return maskHouseholds(ctx, tx) }},
		{"disclosure check", func() error { return checkPublication(ctx, tx, m, &shown) }},
		{"rounds and change", func() error { return publishRounds(ctx, tx, m, round, &shown) }},
		{"cases", func() (err error) {
			run.CasesOpened, run.CasesOpen, err = cases.OpenAndRefresh(ctx, tx, m)
			return err
		}},
		{"case pipeline", func() error {
			if err := refreshCaseBases(ctx, tx, m, &rel); err != nil {
				return err
			}
			return publishPipeline(ctx, tx, m)
		}},
		{"swap in the new tables", func() error {
			if sc.full {
				if err := swapScoreTables(ctx, tx); err != nil {
					return err
				}
			}
			return sc.finish(ctx, tx)
		}},
	}
	for _, s := range steps {
		if err := stage(s.name, s.f); err != nil {
			return run, err
		}
	}
	if err := countRun(ctx, tx, &run); err != nil {
		return run, err
	}
	if err := tx.QueryRow(ctx, `WITH d AS (DELETE FROM publication_due RETURNING erasures) SELECT coalesce(sum(erasures), 0) FROM d`).Scan(&run.Erasures); err != nil {
		return run, err
	}
	model, err := json.Marshal(m)
	if err != nil {
		return run, err
	}
	stages, _ := json.Marshal(run.Stages)
	var monthArg any
	if month > 0 {
		monthArg = month
	}
	var roundArg any
	if round != "" {
		roundArg = round
	}
	if err := tx.QueryRow(ctx, `INSERT INTO score_run (model_version, model, month, started_at, stages, households, children, villages, synthetic, round_id, scope_fingerprint)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, EXISTS (SELECT 1 FROM import_run WHERE kind = 'survey' AND synthetic), $9, $10) RETURNING id`,
		m.Version, model, monthArg, started, stages, run.Households, run.Children, run.Villages, roundArg, sc.fingerprint).Scan(&run.ID); err != nil {
		return run, err
	}
	if _, err := tx.Exec(ctx, `UPDATE round_summary SET score_run_id = $1`, run.ID); err != nil {
		return run, err
	}
	if run.Release, run.NewRelease, err = recordRelease(ctx, tx, m, &run, &rel); err != nil {
		return run, fmt.Errorf("score: release: %w", err)
	}
	run.Refreshed, run.Held = rel.refreshed, rel.held
	if _, err := tx.Exec(ctx, `UPDATE score_run SET release_id = $1 WHERE id = $2`, run.Release, run.ID); err != nil {
		return run, err
	}
	t := time.Now()
	if err := tx.Commit(ctx); err != nil {
		return run, err
	}
	run.Stages = append(run.Stages, Stage{Name: "commit", Seconds: time.Since(t).Seconds()})
	return run, nil
}

// shownRound returns the round the published tables show (scored_round())
// as a value to pass as a parameter: the planner estimates a comparison
// with a function call as matching few rows, and chose nested loops over a
// million households for it (aggregate villages: 7 s became 16 s).
func shownRound(ctx context.Context, q core.Querier) (string, error) {
	var r string
	err := q.QueryRow(ctx, `SELECT coalesce(scored_round(), '')`).Scan(&r)
	return r, err
}

func countRun(ctx context.Context, tx pgx.Tx, run *ScoreRun) error {
	round := run.Round
	for _, q := range []struct {
		sql string
		m   map[string]int
	}{
		{`SELECT k.classification, count(*) FROM child_class k JOIN household h ON h.id = k.household_id WHERE h.round_id = $1 GROUP BY 1`, run.Classes},
		{`SELECT s.tier, count(*) FROM household_score s JOIN household h ON h.id = s.household_id WHERE h.round_id = $1 GROUP BY 1`, run.Tiers},
		{`SELECT class, count(*) FROM hotspot WHERE $1::text IS NOT NULL GROUP BY 1`, run.Hotspots},
	} {
		rows, err := tx.Query(ctx, q.sql, round)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			q.m[k] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM household_score s JOIN household h ON h.id = s.household_id WHERE h.round_id = $1),
		(SELECT count(*) FROM child_class k JOIN household h ON h.id = k.household_id WHERE h.round_id = $1),
		(SELECT count(*) FROM area_score WHERE level = 'desa' AND score IS NOT NULL)`, round).Scan(&run.Households, &run.Children, &run.Villages)
}

// statement is one SQL statement and its arguments: pgx sends a statement
// with arguments on its own, so a sequence of them runs one by one.
type statement struct {
	sql  string
	args []any
}

func execAll(ctx context.Context, tx pgx.Tx, stmts []statement) error {
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			return err
		}
	}
	return nil
}

// swapScoreTables puts the run's child_class_next and household_score_next
// in place of the previous run's tables, as the run's last step: indexes are
// built on the new tables first, so the exclusive lock that dropping the old
// ones takes is held only for the renames and the commit, and readers see
// the previous run until then.
func swapScoreTables(ctx context.Context, tx pgx.Tx) error {
	return execAll(ctx, tx, []statement{
		{`ALTER TABLE child_class_next ADD CONSTRAINT child_class_next_pkey PRIMARY KEY (household_id, ordinal)`, nil},
		{`ALTER TABLE household_score_next ADD CONSTRAINT household_score_next_pkey PRIMARY KEY (household_id)`, nil},
		{`CREATE INDEX household_score_next_village_idx ON household_score_next (village_code)`, nil},
		{`DROP VIEW household_season`, nil},
		{`DROP TABLE child_class`, nil},
		{`DROP TABLE household_score`, nil},
		{`ALTER TABLE child_class_next RENAME TO child_class`, nil},
		{`ALTER INDEX child_class_next_pkey RENAME TO child_class_pkey`, nil},
		{`ALTER TABLE household_score_next RENAME TO household_score`, nil},
		{`ALTER INDEX household_score_next_pkey RENAME TO household_score_pkey`, nil},
		{`ALTER INDEX household_score_next_village_idx RENAME TO household_score_village_idx`, nil},
		{`CREATE VIEW household_season AS
			SELECT s.household_id, m.month, (s.score * c.labour_index[m.month])::real AS seasonal_score
			FROM household_score s
			JOIN score_calendar c USING (variety)
			CROSS JOIN generate_series(1, 12) AS m(month)`, nil},
		{`DO $$ BEGIN
			IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
				GRANT SELECT ON child_class, household_score, household_season TO riskmap_serve;
			END IF; END $$`, nil},
	})
}
