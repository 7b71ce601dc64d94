package scoring

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// scoringCode names the SQL that classifies children and scores
// households (classifyChildren, nearFields, scoreHouseholds). Change it
// with that SQL: a run under another name scores every household again,
// where one under the same name keeps the scores of the kabupaten whose
// data did not change.
const scoringCode = "2026-12-07.1"

// scope is which households a scoring run classifies and scores again
// (migration 024): all of them (full), or those of the kabupaten noted in
// score_dirty since the last run, the rest kept as that run left them.
type scope struct {
	full        bool
	kabupaten   []string // the kabupaten scored again when not full ("" : households in no village)
	notes       []string // the notes read (score_dirty), removed when the run commits ...
	seqs        []int64  // ... if unchanged since
	fingerprint string
}

// readScope decides the run's scope: full when the model or the scoring
// code differs from the latest run's, when that run recorded none (an
// older riskmap, which keeps no counts with the scores), or when a change
// concerns every household ('*'); else the kabupaten noted.
func readScope(ctx context.Context, tx pgx.Tx, m *risk.Model) (*scope, error) {
	model, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(append(model, "|"+scoringCode...))
	sc := &scope{fingerprint: hex.EncodeToString(h[:])}
	var previous string
	if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT scope_fingerprint FROM score_run ORDER BY id DESC LIMIT 1), '')`).Scan(&previous); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT kabupaten_code, seq FROM score_dirty`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sc.full = previous != sc.fingerprint
	for rows.Next() {
		var code string
		var seq int64
		if err := rows.Scan(&code, &seq); err != nil {
			return nil, err
		}
		sc.notes, sc.seqs = append(sc.notes, code), append(sc.seqs, seq)
		if code == "*" {
			sc.full = true
		} else {
			sc.kabupaten = append(sc.kabupaten, code)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if sc.full {
		sc.kabupaten = nil
	}
	sort.Strings(sc.kabupaten)
	return sc, nil
}

// prepare makes, for a run that is not full, the temporary table of the
// households it scores again (scope_household): those in the kabupaten
// noted now, and those the last run scored there (moved away or erased
// since, their old rows go). Then, until the run's last step, the run's
// other steps read the live tables, changed in place, under the names a
// full run builds (child_class_next, household_score_next): temporary
// views, dropped before the run commits (and with it, if it fails).
func (sc *scope) prepare(ctx context.Context, tx pgx.Tx) error {
	if sc.full {
		return nil
	}
	return execAll(ctx, tx, []statement{
		{`CREATE TEMP TABLE scope_household ON COMMIT DROP AS
			SELECT h.id FROM household h LEFT JOIN village v ON v.code = h.village_code
			WHERE coalesce(v.kabupaten_code, '') = ANY ($1::text[])
			UNION
			SELECT s.household_id FROM household_score s LEFT JOIN village v ON v.code = s.village_code
			WHERE coalesce(v.kabupaten_code, '') = ANY ($1::text[])`, []any{sc.kabupaten}},
		{`ALTER TABLE scope_household ADD PRIMARY KEY (id)`, nil},
		{`ANALYZE scope_household`, nil},
		{`CREATE TEMP VIEW child_class_next AS SELECT * FROM child_class`, nil},
		{`CREATE TEMP VIEW household_score_next AS SELECT * FROM household_score`, nil},
	})
}

// finish removes the notes the run read, where no change has noted their
// kabupaten again since; for a run that was not full it drops the views
// prepare made. (The run's score_run row keeps its fingerprint.)
func (sc *scope) finish(ctx context.Context, tx pgx.Tx) error {
	stmts := []statement{
		{`DELETE FROM score_dirty d USING unnest($1::text[], $2::bigint[]) AS r(code, seq)
			WHERE d.kabupaten_code = r.code AND d.seq = r.seq`, []any{sc.notes, sc.seqs}},
	}
	if !sc.full {
		stmts = append(stmts, statement{`DROP VIEW pg_temp.household_kids, pg_temp.child_class_next, pg_temp.household_score_next`, nil})
	}
	return execAll(ctx, tx, stmts)
}

// target prepares score table table (keyed by household_id) for one step
// of the run and returns where the step writes and the filter its rows
// take. A full run builds table_next apart, swapped in at the end
// (swapScoreTables): deleting 2.3 M rows and maintaining their index row
// by row cost more than building them afresh. A run that is not full
// deletes, in place, the rows of the households in its scope and writes
// only theirs: households is the step's expression of a household id.
func (sc *scope) target(ctx context.Context, tx pgx.Tx, table, households string) (target, only string, err error) {
	if sc.full {
		_, err = tx.Exec(ctx, `CREATE TABLE `+table+`_next (LIKE `+table+` INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`)
		return table + "_next", "", err
	}
	_, err = tx.Exec(ctx, `DELETE FROM `+table+` t USING scope_household s WHERE t.household_id = s.id`)
	return table, `
		WHERE ` + households + ` IN (SELECT id FROM scope_household)`, err
}
