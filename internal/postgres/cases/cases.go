// Package cases is the CLMRS cycle's storage: cases opened for children
// found in hazardous work or child labour, their status recomputed from
// every round's observation and every visit (risk.Cases decides), visits
// recorded once per Idempotency-Key or imported from the visit form, the
// work list, the phone's field cases and the pipeline per area.
package cases

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Store is the cases subject of riskmap's storage.
type Store struct{ db *core.DB }

// New returns the cases store over a core.
func New(db *core.DB) *Store { return &Store{db: db} }

// OpenAndRefresh opens a case for every child the run classifies
// hazardous or child_labour who has none (in any round: a child is one
// case however often found), then recomputes every case's status.
func OpenAndRefresh(ctx context.Context, tx pgx.Tx, m *risk.Model) (opened, open int, err error) {
	tag, err := tx.Exec(ctx, `
		INSERT INTO child_case (household_id, identity_id, person, ordinal, village_code, round_id, classification, reason, opened_on, status, status_on, next_due)
		SELECT DISTINCT ON (h.identity_id, c.person) h.id, h.identity_id, c.person, c.ordinal, h.village_code, h.round_id,
			k.classification, k.reason, d.on, 'identified', d.on, d.on + $2::int
		FROM (SELECT k.* FROM child_class_next k
			WHERE k.classification IN ('hazardous', 'child_labour')
			  -- most children in child labour opened their case themselves:
			  -- set them aside before the joins (a million households)
			  AND NOT EXISTS (SELECT 1 FROM child_case x WHERE x.household_id = k.household_id AND x.ordinal = k.ordinal)) k
		JOIN child c USING (household_id, ordinal)
		JOIN household h ON h.id = k.household_id
		JOIN survey_round r ON r.id = h.round_id
		CROSS JOIN LATERAL (SELECT coalesce((h.submitted_at AT TIME ZONE $1)::date, r.starts_on) AS on) d
		WHERE k.classification IN ('hazardous', 'child_labour') AND h.identity_id IS NOT NULL AND c.person IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM child_case x WHERE x.identity_id = h.identity_id AND x.person = c.person)
		ORDER BY h.identity_id, c.person, d.on, h.id
		ON CONFLICT (identity_id, person) DO NOTHING`, core.LocalZone, m.Cases.FirstVisitDays)
	if err != nil {
		return 0, 0, err
	}
	opened = int(tag.RowsAffected())
	// A new case's state is its opening (identified, due in first_visit_days:
	// set above), and visits refresh their case when recorded; what a run
	// can change is a later round's observation of the child. So only the
	// cases of households surveyed again are refreshed (all of them: the
	// model may classify the later answers differently).
	rows, err := tx.Query(ctx, `SELECT k.id FROM child_case k
		JOIN (SELECT identity_id FROM household GROUP BY identity_id HAVING count(*) > 1) again USING (identity_id)`)
	if err != nil {
		return 0, 0, err
	}
	again, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, 0, err
	}
	if len(again) > 0 {
		if err := refreshCases(ctx, tx, m.Cases, "child_class_next", again); err != nil {
			return 0, 0, err
		}
	}
	err = tx.QueryRow(ctx, `SELECT count(*) FROM child_case WHERE status NOT IN ('closed', 'lost')`).Scan(&open)
	return opened, open, err
}

// refreshCases recomputes the status, next due date and check counts of
// the given cases (nil: all) from their events: every round's observation
// of the child from the opening on (classes from the given table:
// child_class, or child_class_next inside a run) and every visit.
func refreshCases(ctx context.Context, q core.Querier, c risk.Cases, classes string, ids []int64) error {
	if classes != "child_class" && classes != "child_class_next" {
		return fmt.Errorf("cases: unknown classification table %q", classes)
	}
	events := map[int64][]risk.CaseEvent{}
	rows, err := q.Query(ctx, `
		SELECT k.id, d.on, cc.classification IN ('hazardous', 'child_labour')
		FROM child_case k
		JOIN household h ON h.identity_id = k.identity_id
		JOIN survey_round r ON r.id = h.round_id
		JOIN child ch ON ch.household_id = h.id AND ch.person = k.person
		JOIN `+classes+` cc ON cc.household_id = ch.household_id AND cc.ordinal = ch.ordinal
		CROSS JOIN LATERAL (SELECT coalesce((h.submitted_at AT TIME ZONE $2)::date, r.starts_on) AS on) d
		WHERE ($1::bigint[] IS NULL OR k.id = ANY ($1)) AND d.on >= k.opened_on
		ORDER BY k.id, d.on`, ids, core.LocalZone)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var e risk.CaseEvent
		if err := rows.Scan(&id, &e.On, &e.InLabour); err != nil {
			rows.Close()
			return err
		}
		e.Survey = true
		events[id] = append(events[id], e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.Query(ctx, `
		SELECT case_id, visited_on, kind, outcome, child_working, in_school, actions, coalesce(action_status, '')
		FROM case_visit WHERE ($1::bigint[] IS NULL OR case_id = ANY ($1)) ORDER BY case_id, visited_on, id`, ids)
	if err != nil {
		return err
	}
	for rows.Next() {
		v := &risk.Visit{}
		if err := rows.Scan(&v.CaseID, &v.VisitedOn, &v.Kind, &v.Outcome, &v.ChildWorking, &v.InSchool, &v.Actions, &v.ActionStatus); err != nil {
			rows.Close()
			return err
		}
		events[v.CaseID] = append(events[v.CaseID], risk.CaseEvent{On: v.VisitedOn, Visit: v})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var (
		cid               []int64
		status            []string
		statusOn          []time.Time
		due               []*time.Time
		checks, outStreak []int32
	)
	for id, evs := range events {
		s := c.State(evs)
		if s.Status == "" {
			continue
		}
		cid, status, statusOn, due = append(cid, id), append(status, s.Status), append(statusOn, s.StatusOn), append(due, s.NextDue)
		checks, outStreak = append(checks, int32(s.Checks)), append(outStreak, int32(s.OutStreak))
	}
	_, err = q.Exec(ctx, `
		UPDATE child_case k SET status = u.status, status_on = u.status_on, next_due = u.due, checks = u.checks,
			out_streak = u.streak, updated_at = now()
		FROM unnest($1::bigint[], $2::text[], $3::date[], $4::date[], $5::int[], $6::int[]) AS u(id, status, status_on, due, checks, streak)
		WHERE k.id = u.id AND (k.status, k.status_on, k.next_due, k.checks, k.out_streak) IS DISTINCT FROM (u.status, u.status_on, u.due, u.checks, u.streak)`,
		cid, status, statusOn, due, checks, outStreak)
	return err
}

// Case is one child's case as staff see it: no names, the programme
// household id and the child's ordinal, age and sex to find the child.
type Case struct {
	ID             int64      `json:"id"`
	Status         string     `json:"status"`
	StatusOn       time.Time  `json:"status_on"`
	NextDue        *time.Time `json:"next_due"`
	Overdue        bool       `json:"overdue"`
	OpenedOn       time.Time  `json:"opened_on"`
	Round          string     `json:"opened_in_round"`
	Classification string     `json:"classification"`
	Reason         string     `json:"reason"`
	VillageCode    string     `json:"village_code"`
	Village        string     `json:"village"`
	SurveyUUID     string     `json:"household"` // the submission that found the child
	ProgrammeID    *string    `json:"programme_id"`
	Ordinal        int        `json:"child_ordinal"`
	Age            int        `json:"child_age"`
	Sex            string     `json:"child_sex"`
	Checks         int        `json:"checks"`
	OutStreak      int        `json:"checks_out_in_a_row"`
	Visits         int        `json:"visits"`
	LastVisit      *time.Time `json:"last_visit"`
	// The latest survey round since the case opened that found the child,
	// and whether it found the child in child labour (nil: none yet).
	LastSurveyOn       *time.Time `json:"last_survey_on"`
	LastSurveyInLabour *bool      `json:"last_survey_in_labour"`
}

// CaseQuery selects cases for a work list.
type CaseQuery struct {
	Status    []string  // nil: all
	Open      bool      // only open cases (not closed or lost)
	DueBefore time.Time // zero: any; else open cases due before this day
	Areas     []string  // nil: everywhere; else village codes or their kecamatan/kabupaten prefixes
	ID        int64     // one case
	Limit     int
	Today     time.Time // for overdue
}

// Cases returns cases, the most overdue first, then by village and id.
func (st *Store) Cases(ctx context.Context, q CaseQuery) ([]Case, error) {
	return cases(ctx, st.db.Reader(), q)
}

func cases(ctx context.Context, pool core.Querier, q CaseQuery) ([]Case, error) {
	for _, s := range q.Status {
		if !risk.IsChoice(risk.CaseStatuses, s) {
			return nil, risk.Errorf(risk.EINVALID, "status: %q is not one of %s", s, strings.Join(risk.CaseStatuses, ", "))
		}
	}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	if q.Today.IsZero() {
		q.Today = time.Now()
	}
	var due any
	if !q.DueBefore.IsZero() {
		due = q.DueBefore
	}
	var id any
	if q.ID != 0 {
		id = q.ID
	}
	rows, err := pool.Query(ctx, `
		SELECT k.id, k.status, k.status_on, k.next_due, coalesce(k.next_due < $6::date, false), k.opened_on, k.round_id,
			k.classification, k.reason, k.village_code, v.name, h.survey_uuid, h.programme_id, k.ordinal, c.age, c.sex,
			k.checks, k.out_streak, (SELECT count(*) FROM case_visit cv WHERE cv.case_id = k.id),
			(SELECT max(visited_on) FROM case_visit cv WHERE cv.case_id = k.id), ls.on, ls.in_labour
		FROM child_case k
		JOIN household h ON h.id = k.household_id
		JOIN child c ON c.household_id = k.household_id AND c.ordinal = k.ordinal
		JOIN village v ON v.code = k.village_code
		LEFT JOIN LATERAL (
			SELECT d.on, cc.classification IN ('hazardous', 'child_labour') AS in_labour
			FROM household h2 JOIN survey_round r2 ON r2.id = h2.round_id
			JOIN child c2 ON c2.household_id = h2.id AND c2.person = k.person
			JOIN child_class cc ON cc.household_id = c2.household_id AND cc.ordinal = c2.ordinal
			CROSS JOIN LATERAL (SELECT coalesce((h2.submitted_at AT TIME ZONE 'Asia/Jakarta')::date, r2.starts_on) AS on) d
			WHERE h2.identity_id = k.identity_id AND h2.id <> k.household_id AND d.on >= k.opened_on
			ORDER BY d.on DESC LIMIT 1) ls ON true
		WHERE ($1::text[] IS NULL OR k.status = ANY ($1))
		  AND (NOT $2 OR k.status NOT IN ('closed', 'lost'))
		  AND ($3::date IS NULL OR (k.next_due IS NOT NULL AND k.next_due < $3))
		  AND ($4::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest($4::text[]) a WHERE k.village_code = a OR k.village_code LIKE a || '.%'))
		  AND ($5::bigint IS NULL OR k.id = $5)
		ORDER BY k.next_due NULLS LAST, k.village_code, k.id
		LIMIT $7`, nilIfEmpty(q.Status), q.Open, due, q.Areas, id, q.Today, q.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Case, error) {
		var c Case
		err := r.Scan(&c.ID, &c.Status, &c.StatusOn, &c.NextDue, &c.Overdue, &c.OpenedOn, &c.Round, &c.Classification, &c.Reason,
			&c.VillageCode, &c.Village, &c.SurveyUUID, &c.ProgrammeID, &c.Ordinal, &c.Age, &c.Sex, &c.Checks, &c.OutStreak, &c.Visits, &c.LastVisit, &c.LastSurveyOn, &c.LastSurveyInLabour)
		return c, err
	})
}

func nilIfEmpty(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	return ss
}

// CaseVillage returns the village of a case, to check a staff key's areas
// before anything else is read or written; ENOTFOUND when there is none.
func (st *Store) CaseVillage(ctx context.Context, id int64) (string, error) {
	var v string
	err := st.db.Pool.QueryRow(ctx, `SELECT village_code FROM child_case WHERE id = $1`, id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", risk.Errorf(risk.ENOTFOUND, "no case %d", id)
	}
	return v, core.Wrap(err)
}

// VisitResult is what recording a visit did.
type VisitResult struct {
	VisitID int64 `json:"visit_id"`
	Case    Case  `json:"case"`
	// Replayed: the same submission (or Idempotency-Key) was recorded
	// before; nothing was written again.
	Replayed bool `json:"replayed"`
}

// AddVisit records one visit of staff over HTTP: validated like an
// imported one, audited, and idempotent on the key's Idempotency-Key (the
// same key and body return the first result; the same key with another
// body is a conflict).
func (st *Store) AddVisit(ctx context.Context, p risk.Principal, c risk.Cases, v risk.Visit, idempotencyKey string, today time.Time) (VisitResult, error) {
	var res VisitResult
	if err := v.Validate(c, today); err != nil {
		return res, err
	}
	if idempotencyKey == "" || len(idempotencyKey) > 200 {
		return res, risk.Errorf(risk.EINVALID, "Idempotency-Key: a header of 1-200 characters is required, so that a visit sent twice (a lost connection in the field) is recorded once")
	}
	v.SubmissionID = fmt.Sprintf("http:%d:%s", p.KeyID, idempotencyKey)
	err := pgx.BeginTxFunc(ctx, st.db.Pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var prev risk.Visit
		var prevID int64
		err := tx.QueryRow(ctx, `SELECT id, case_id, visited_on, kind, outcome, child_working, in_school, actions, coalesce(action_status, '')
			FROM case_visit WHERE submission_id = $1`, v.SubmissionID).
			Scan(&prevID, &prev.CaseID, &prev.VisitedOn, &prev.Kind, &prev.Outcome, &prev.ChildWorking, &prev.InSchool, &prev.Actions, &prev.ActionStatus)
		switch {
		case err == nil:
			if !sameVisit(prev, v) {
				return risk.Errorf(risk.ECONFLICT, "Idempotency-Key %q was used for another visit: use a new key for a new visit", idempotencyKey)
			}
			res.VisitID, res.Replayed = prevID, true
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		n, err := insertVisits(ctx, tx, []risk.Visit{v}, "http", p.KeyID)
		if err != nil {
			return err
		}
		res.VisitID = n[0]
		if err := refreshCases(ctx, tx, c, "child_class", []int64{v.CaseID}); err != nil {
			return err
		}
		b := fmt.Sprintf(`{"case_id":["%d"],"kind":["%s"],"outcome":["%s"]}`, v.CaseID, v.Kind, v.Outcome)
		var key *int64
		if p.KeyID != 0 {
			key = &p.KeyID
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_log (key_id, role, route, params, records) VALUES ($1, $2, 'POST /cases/{id}/visits', $3::jsonb, 1)`,
			key, string(p.Role), b)
		return err
	})
	if err != nil {
		return res, core.Wrap(err)
	}
	cs, err := cases(ctx, st.db.Pool, CaseQuery{ID: v.CaseID, Today: today}) // the primary: a replica may not have the visit yet
	if err != nil {
		return res, err
	}
	if len(cs) == 1 {
		res.Case = cs[0]
	}
	return res, nil
}

func sameVisit(a, b risk.Visit) bool {
	eq := func(x, y *bool) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.CaseID == b.CaseID && a.VisitedOn.Format(time.DateOnly) == b.VisitedOn.Format(time.DateOnly) && a.Kind == b.Kind &&
		a.Outcome == b.Outcome && eq(a.ChildWorking, b.ChildWorking) && eq(a.InSchool, b.InSchool) &&
		strings.Join(a.Actions, " ") == strings.Join(b.Actions, " ") && a.ActionStatus == b.ActionStatus
}

// caseFacts is what checking a visit needs of its case.
type caseFacts struct {
	opened time.Time
	card   *string
	hid    int64
}

func casesFacts(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]caseFacts, error) {
	rows, err := tx.Query(ctx, `SELECT k.id, k.opened_on, h.programme_id, k.household_id
		FROM child_case k JOIN household h ON h.id = k.household_id WHERE k.id = ANY ($1)`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]caseFacts{}
	for rows.Next() {
		var id int64
		var f caseFacts
		if err := rows.Scan(&id, &f.opened, &f.card, &f.hid); err != nil {
			return nil, err
		}
		out[id] = f
	}
	return out, rows.Err()
}

// insertVisits inserts visits in one statement, checking each against its
// case: the case exists and the visit is not before the case was opened.
// It returns the new ids in order.
func insertVisits(ctx context.Context, tx pgx.Tx, vs []risk.Visit, source string, keyID int64) ([]int64, error) {
	var key *int64
	if keyID != 0 {
		key = &keyID
	}
	ids := make([]int64, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, v.CaseID)
	}
	facts, err := casesFacts(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	var (
		caseIDs, hids                        []int64
		subs, kinds, outcomes, acts, statuss []string
		days                                 []time.Time
		working, school                      []*bool
	)
	for _, v := range vs {
		f, ok := facts[v.CaseID]
		if !ok {
			return nil, risk.Errorf(risk.ENOTFOUND, "case_id: no case %d", v.CaseID)
		}
		if v.VisitedOn.Before(f.opened) {
			return nil, risk.Errorf(risk.EINVALID, "visited_on: %s is before case %d was opened (%s)", v.VisitedOn.Format(time.DateOnly), v.CaseID, f.opened.Format(time.DateOnly))
		}
		caseIDs, hids, subs, days = append(caseIDs, v.CaseID), append(hids, f.hid), append(subs, v.SubmissionID), append(days, v.VisitedOn)
		kinds, outcomes, working, school = append(kinds, v.Kind), append(outcomes, v.Outcome), append(working, v.ChildWorking), append(school, v.InSchool)
		acts, statuss = append(acts, "{"+strings.Join(v.Actions, ",")+"}"), append(statuss, v.ActionStatus)
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO case_visit (case_id, household_id, submission_id, source, key_id, visited_on, kind, outcome,
			child_working, in_school, actions, action_status)
		SELECT u.c, u.h, u.s, $4, $5, u.d, u.k, u.o, u.w, u.sc, u.a::text[], nullif(u.st, '')
		FROM unnest($1::bigint[], $2::bigint[], $3::text[], $6::date[], $7::text[], $8::text[], $9::boolean[], $10::boolean[], $11::text[], $12::text[])
			WITH ORDINALITY AS u(c, h, s, d, k, o, w, sc, a, st, n)
		ORDER BY u.n
		RETURNING id`, caseIDs, hids, subs, source, key, days, kinds, outcomes, working, school, acts, statuss)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// ImportVisits loads an export of the visit form in one transaction: every
// row is checked against the form's rules and its case (it exists, the
// programme id on the form matches the case's household, the visit is not
// before the case opened); a submission loaded before is skipped, not
// doubled; the cases' statuses are recomputed. Any bad row changes
// nothing, unless opt.Partial.
func (st *Store) ImportVisits(ctx context.Context, vr *ingest.VisitReader, c risk.Cases, opt core.ImportOptions, today time.Time) (ingest.Summary, error) {
	return st.importVisits(ctx, vr, c, opt, today, nil)
}

// ImportPulledVisits is ImportVisits for visits pulled from a server: where
// the pull stopped is stored in the same transaction, so the next pull
// starts there, and never past a visit that did not load.
func (st *Store) ImportPulledVisits(ctx context.Context, vr *ingest.VisitReader, c risk.Cases, opt core.ImportOptions, today time.Time, pull core.PullState) (ingest.Summary, error) {
	return st.importVisits(ctx, vr, c, opt, today, &pull)
}

func (st *Store) importVisits(ctx context.Context, vr *ingest.VisitReader, c risk.Cases, opt core.ImportOptions, today time.Time, pull *core.PullState) (ingest.Summary, error) {
	started := time.Now()
	sum := ingest.Summary{Kind: "visits", File: vr.File, Warnings: vr.Warnings()}
	var rows []ingest.VisitRow
	for {
		row, prob, err := vr.Next(c, today)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, err
		}
		sum.Read++
		if prob != nil {
			sum.Rejected = append(sum.Rejected, *prob)
			continue
		}
		rows = append(rows, row)
	}
	sum.Warnings = vr.Warnings()
	tx, err := st.db.Pool.Begin(ctx)
	if err != nil {
		return sum, err
	}
	defer tx.Rollback(ctx)
	source := "kobo"
	if strings.Contains(vr.File, ".zip") || vr.Format() == ingest.ODK {
		source = "odk"
	}
	var ids []int64
	var subs []string
	for _, r := range rows {
		ids, subs = append(ids, r.CaseID), append(subs, r.SubmissionID)
	}
	facts, err := casesFacts(ctx, tx, ids)
	if err != nil {
		return sum, err
	}
	loaded := map[string]bool{}
	lrows, err := tx.Query(ctx, `SELECT submission_id FROM case_visit WHERE submission_id = ANY ($1)`, subs)
	if err != nil {
		return sum, err
	}
	got, err := pgx.CollectRows(lrows, pgx.RowTo[string])
	if err != nil {
		return sum, err
	}
	for _, g := range got {
		loaded[g] = true
	}
	var ok []risk.Visit
	var cases []int64
	for _, r := range rows {
		f, exists := facts[r.CaseID]
		prob := ingest.Problem{File: vr.File, Row: r.Line, Code: r.SubmissionID}
		switch {
		case !exists:
			prob.Column, prob.Reason = "case_id", fmt.Sprintf("no case %d (riskmap cases lists them)", r.CaseID)
		case loaded[r.SubmissionID]:
			sum.Skipped++ // loaded by an earlier import of the same export
			continue
		case r.ProgrammeID != "" && (f.card == nil || *f.card != r.ProgrammeID):
			prob.Column, prob.Reason = "programme_id", fmt.Sprintf("%s is not the programme household id of case %d's household: is the case number right?", r.ProgrammeID, r.CaseID)
		case r.VisitedOn.Before(f.opened):
			prob.Column, prob.Reason = "visited_on", fmt.Sprintf("%s is before case %d was opened (%s)", r.VisitedOn.Format(time.DateOnly), r.CaseID, f.opened.Format(time.DateOnly))
		default:
			ok = append(ok, r.Visit)
			cases = append(cases, r.CaseID)
			continue
		}
		sum.Rejected = append(sum.Rejected, prob)
	}
	if len(sum.Rejected) > 0 && !opt.Partial {
		return sum, sum.Rejected
	}
	if pull != nil {
		if _, err := tx.Exec(ctx, `INSERT INTO pull_state (source, cursor, submissions) VALUES ($1, $2, $3)
			ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, submissions = excluded.submissions, pulled_at = now()`,
			pull.Source, pull.Cursor, pull.Submissions); err != nil {
			return sum, err
		}
	}
	if len(ok) == 0 && sum.Skipped > 0 && len(sum.Rejected) == 0 {
		return sum, tx.Commit(ctx) // all loaded before: nothing to do, nothing wrong
	}
	if _, err := insertVisits(ctx, tx, ok, source, 0); err != nil {
		return sum, err
	}
	sum.Inserted = len(ok)
	if err := refreshCases(ctx, tx, c, "child_class", cases); err != nil {
		return sum, err
	}
	return sum, core.FinishImport(ctx, tx, &sum, opt, started)
}

// PipelineArea is one area's published case pipeline: children with a case
// by status, nil where withheld.
type PipelineArea struct {
	Level  string          `json:"level"`
	Code   string          `json:"code"`
	Name   string          `json:"name"`
	Parent string          `json:"parent,omitempty"`
	Status string          `json:"status"` // published, insufficient_data
	Counts map[string]*int `json:"counts"`
}

// Pipeline returns the published case pipeline of every kecamatan and
// kabupaten: the table the latest release built (publishPipeline) from the
// kecamatan bases, under the rule every public count follows.
func (st *Store) Pipeline(ctx context.Context) ([]PipelineArea, error) {
	rows, err := st.db.Reader().Query(ctx, `
		SELECT p.level, p.code, coalesce(k.name, b.name, ''), coalesce(p.parent_code, ''), p.status, p.counts
		FROM pipeline_public p
		LEFT JOIN kecamatan k ON p.level = 'kecamatan' AND k.code = p.code
		LEFT JOIN kabupaten b ON p.level = 'kabupaten' AND b.code = p.code
		ORDER BY p.level, p.code`)
	if err != nil {
		return nil, core.Wrap(err)
	}
	defer rows.Close()
	var out []PipelineArea
	for rows.Next() {
		var a PipelineArea
		if err := rows.Scan(&a.Level, &a.Code, &a.Name, &a.Parent, &a.Status, &a.Counts); err != nil {
			return nil, core.Wrap(err)
		}
		out = append(out, a)
	}
	return out, core.Wrap(rows.Err())
}

// CaseVisit is one recorded visit, as staff see it.
type CaseVisit struct {
	ID           int64     `json:"id"`
	VisitedOn    time.Time `json:"visited_on"`
	Kind         string    `json:"kind"`
	Outcome      string    `json:"outcome"`
	ChildWorking *bool     `json:"child_working"`
	InSchool     *bool     `json:"in_school"`
	Actions      []string  `json:"actions"`
	ActionStatus *string   `json:"action_status"`
	Source       string    `json:"source"`
	RecordedAt   time.Time `json:"recorded_at"`
}

// CaseVisits returns a case's visits, oldest first.
func (st *Store) CaseVisits(ctx context.Context, id int64) ([]CaseVisit, error) {
	rows, err := st.db.Reader().Query(ctx, `SELECT id, visited_on, kind, outcome, child_working, in_school, actions, action_status, source, recorded_at
		FROM case_visit WHERE case_id = $1 ORDER BY visited_on, id`, id)
	if err != nil {
		return nil, core.Wrap(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CaseVisit, error) {
		var v CaseVisit
		err := r.Scan(&v.ID, &v.VisitedOn, &v.Kind, &v.Outcome, &v.ChildWorking, &v.InSchool, &v.Actions, &v.ActionStatus, &v.Source, &v.RecordedAt)
		return v, err
	})
}

// FieldCase is a case as the field officer's phone needs it: the case, the
// household's exact point (staff-only data) and what the last visit did.
type FieldCase struct {
	Case
	Lon, Lat       float64
	LastKind       string   // "" when never visited
	LastOutcome    string   // ""
	LastActions    []string // nil
	LastActionDone string   // planned, delivered or ""
}

// FieldCases returns every case that is not closed or lost in the areas
// (village codes or their kecamatan or kabupaten prefixes; at least one),
// with the household's point and the latest visit: the work list pushed to
// the phones (riskmap cases push).
func (st *Store) FieldCases(ctx context.Context, areas []string, today time.Time) ([]FieldCase, error) {
	if len(areas) == 0 {
		return nil, risk.Errorf(risk.EINVALID, "a work list needs an area: a kabupaten, kecamatan or village code")
	}
	cs, err := cases(ctx, st.db.Reader(), CaseQuery{Open: true, Areas: areas, Limit: 1 << 30, Today: today})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	rows, err := st.db.Reader().Query(ctx, `
		SELECT k.id, ST_X(h.geom), ST_Y(h.geom), coalesce(v.kind, ''), coalesce(v.outcome, ''), coalesce(v.actions, '{}'), coalesce(v.action_status, '')
		FROM child_case k JOIN household h ON h.id = k.household_id
		LEFT JOIN LATERAL (SELECT kind, outcome, actions, action_status FROM case_visit cv
			WHERE cv.case_id = k.id ORDER BY visited_on DESC, id DESC LIMIT 1) v ON true
		WHERE k.id = ANY ($1)`, ids)
	if err != nil {
		return nil, core.Wrap(err)
	}
	type extra struct {
		lon, lat                     float64
		kind, outcome, actionsStatus string
		actions                      []string
	}
	more := map[int64]extra{}
	for rows.Next() {
		var id int64
		var x extra
		if err := rows.Scan(&id, &x.lon, &x.lat, &x.kind, &x.outcome, &x.actions, &x.actionsStatus); err != nil {
			rows.Close()
			return nil, core.Wrap(err)
		}
		more[id] = x
	}
	if err := rows.Err(); err != nil {
		return nil, core.Wrap(err)
	}
	out := make([]FieldCase, len(cs))
	for i, c := range cs {
		x := more[c.ID]
		out[i] = FieldCase{Case: c, Lon: x.lon, Lat: x.lat, LastKind: x.kind, LastOutcome: x.outcome, LastActionDone: x.actionsStatus}
		if len(x.actions) > 0 {
			out[i].LastActions = x.actions
		}
	}
	return out, nil
}
