package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/risk"
)

// querier is what both a pool and a transaction can do.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// openAndRefreshCases opens a case for every child the run classifies
// hazardous or child_labour who has none (in any round: a child is one
// case however often found), then recomputes every case's status.
func openAndRefreshCases(ctx context.Context, tx pgx.Tx, m *risk.Model, run *ScoreRun) error {
	tag, err := tx.Exec(ctx, `
		INSERT INTO child_case (household_id, identity_id, person, ordinal, village_code, round_id, classification, reason, opened_on, status, status_on)
		SELECT DISTINCT ON (h.identity_id, c.person) h.id, h.identity_id, c.person, c.ordinal, h.village_code, h.round_id,
			k.classification, k.reason, d.on, 'identified', d.on
		FROM child_class_next k
		JOIN child c USING (household_id, ordinal)
		JOIN household h ON h.id = k.household_id
		JOIN survey_round r ON r.id = h.round_id
		CROSS JOIN LATERAL (SELECT coalesce((h.submitted_at AT TIME ZONE $1)::date, r.starts_on) AS on) d
		WHERE k.classification IN ('hazardous', 'child_labour') AND h.identity_id IS NOT NULL AND c.person IS NOT NULL
		ORDER BY h.identity_id, c.person, d.on, h.id
		ON CONFLICT (identity_id, person) DO NOTHING`, localZone)
	if err != nil {
		return err
	}
	run.CasesOpened = int(tag.RowsAffected())
	if err := refreshCases(ctx, tx, m.Cases, "child_class_next", nil); err != nil {
		return err
	}
	return tx.QueryRow(ctx, `SELECT count(*) FROM child_case WHERE status NOT IN ('closed', 'lost')`).Scan(&run.CasesOpen)
}

// refreshCases recomputes the status, next due date and check counts of
// the given cases (nil: all) from their events: every round's observation
// of the child from the opening on (classes from the given table:
// child_class, or child_class_next inside a run) and every visit.
func refreshCases(ctx context.Context, q querier, c risk.Cases, classes string, ids []int64) error {
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
		ORDER BY k.id, d.on`, ids, localZone)
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
func (db *DB) Cases(ctx context.Context, q CaseQuery) ([]Case, error) {
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
	rows, err := db.Pool.Query(ctx, `
		SELECT k.id, k.status, k.status_on, k.next_due, coalesce(k.next_due < $6::date, false), k.opened_on, k.round_id,
			k.classification, k.reason, k.village_code, v.name, h.survey_uuid, h.programme_id, k.ordinal, c.age, c.sex,
			k.checks, k.out_streak, (SELECT count(*) FROM case_visit cv WHERE cv.case_id = k.id),
			(SELECT max(visited_on) FROM case_visit cv WHERE cv.case_id = k.id)
		FROM child_case k
		JOIN household h ON h.id = k.household_id
		JOIN child c ON c.household_id = k.household_id AND c.ordinal = k.ordinal
		JOIN village v ON v.code = k.village_code
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
			&c.VillageCode, &c.Village, &c.SurveyUUID, &c.ProgrammeID, &c.Ordinal, &c.Age, &c.Sex, &c.Checks, &c.OutStreak, &c.Visits, &c.LastVisit)
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
func (db *DB) CaseVillage(ctx context.Context, id int64) (string, error) {
	var v string
	err := db.Pool.QueryRow(ctx, `SELECT village_code FROM child_case WHERE id = $1`, id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", risk.Errorf(risk.ENOTFOUND, "no case %d", id)
	}
	return v, wrapDB(err)
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
func (db *DB) AddVisit(ctx context.Context, p risk.Principal, c risk.Cases, v risk.Visit, idempotencyKey string, today time.Time) (VisitResult, error) {
	var res VisitResult
	if err := v.Validate(c, today); err != nil {
		return res, err
	}
	if idempotencyKey == "" || len(idempotencyKey) > 200 {
		return res, risk.Errorf(risk.EINVALID, "Idempotency-Key: a header of 1-200 characters is required, so that a visit sent twice (a lost connection in the field) is recorded once")
	}
	v.SubmissionID = fmt.Sprintf("http:%d:%s", p.KeyID, idempotencyKey)
	err := pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
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
		return res, wrapDB(err)
	}
	cs, err := db.Cases(ctx, CaseQuery{ID: v.CaseID, Today: today})
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

// insertVisits inserts visits, checking each against its case: the case
// exists and the visit is not before the case was opened. It returns the
// new ids in order.
func insertVisits(ctx context.Context, tx pgx.Tx, vs []risk.Visit, source string, keyID int64) ([]int64, error) {
	var key *int64
	if keyID != 0 {
		key = &keyID
	}
	ids := make([]int64, 0, len(vs))
	for _, v := range vs {
		var opened time.Time
		var hid int64
		err := tx.QueryRow(ctx, `SELECT opened_on, household_id FROM child_case WHERE id = $1`, v.CaseID).Scan(&opened, &hid)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, risk.Errorf(risk.ENOTFOUND, "case_id: no case %d", v.CaseID)
		}
		if err != nil {
			return nil, err
		}
		if v.VisitedOn.Before(opened) {
			return nil, risk.Errorf(risk.EINVALID, "visited_on: %s is before case %d was opened (%s)", v.VisitedOn.Format(time.DateOnly), v.CaseID, opened.Format(time.DateOnly))
		}
		var status any
		if v.ActionStatus != "" {
			status = v.ActionStatus
		}
		actions := v.Actions
		if actions == nil {
			actions = []string{}
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO case_visit (case_id, household_id, submission_id, source, key_id, visited_on, kind, outcome,
				child_working, in_school, actions, action_status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
			v.CaseID, hid, v.SubmissionID, source, key, v.VisitedOn, v.Kind, v.Outcome, v.ChildWorking, v.InSchool, actions, status).Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// ImportVisits loads an export of the visit form in one transaction: every
// row is checked against the form's rules and its case (it exists, the
// programme id on the form matches the case's household, the visit is not
// before the case opened); a submission loaded before is skipped, not
// doubled; the cases' statuses are recomputed. Any bad row changes
// nothing, unless opt.Partial.
func (db *DB) ImportVisits(ctx context.Context, vr *ingest.VisitReader, c risk.Cases, opt ImportOptions, today time.Time) (ingest.Summary, error) {
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
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return sum, err
	}
	defer tx.Rollback(ctx)
	source := "kobo"
	if strings.Contains(vr.File, ".zip") || vr.Format() == ingest.ODK {
		source = "odk"
	}
	var ok []risk.Visit
	var cases []int64
	for _, r := range rows {
		var opened time.Time
		var card *string
		var exists bool
		err := tx.QueryRow(ctx, `SELECT k.opened_on, h.programme_id, EXISTS (SELECT 1 FROM case_visit WHERE submission_id = $2)
			FROM child_case k JOIN household h ON h.id = k.household_id WHERE k.id = $1`, r.CaseID, r.SubmissionID).Scan(&opened, &card, &exists)
		prob := ingest.Problem{File: vr.File, Row: r.Line, Code: r.SubmissionID}
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			prob.Column, prob.Reason = "case_id", fmt.Sprintf("no case %d (riskmap cases lists them)", r.CaseID)
		case err != nil:
			return sum, err
		case exists:
			sum.Skipped++ // loaded by an earlier import of the same export
			continue
		case r.ProgrammeID != "" && (card == nil || *card != r.ProgrammeID):
			prob.Column, prob.Reason = "programme_id", fmt.Sprintf("%s is not the programme household id of case %d's household: is the case number right?", r.ProgrammeID, r.CaseID)
		case r.VisitedOn.Before(opened):
			prob.Column, prob.Reason = "visited_on", fmt.Sprintf("%s is before case %d was opened (%s)", r.VisitedOn.Format(time.DateOnly), r.CaseID, opened.Format(time.DateOnly))
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
	return sum, finish(ctx, tx, &sum, opt, started)
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

// Pipeline returns the case pipeline of every kecamatan and kabupaten (and
// village, for the rule's check), published under the rule: an area with
// fewer cases than min_children is withheld whole, counts are rounded,
// and risk.PublishTable withholds more until no count can be narrowed.
func (db *DB) Pipeline(ctx context.Context, rule risk.PublicationRule) ([]PipelineArea, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT v.code, v.kecamatan_code, k.kabupaten_code, c.status, count(c.id)
		FROM village v JOIN kecamatan k ON k.code = v.kecamatan_code
		LEFT JOIN child_case c ON c.village_code = v.code
		GROUP BY 1, 2, 3, 4 ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	idx := map[string]int{}
	var areas []risk.AreaCounts
	get := func(area, parent string, leaf bool) *risk.AreaCounts {
		i, ok := idx[area]
		if !ok {
			i = len(areas)
			idx[area] = i
			areas = append(areas, risk.AreaCounts{Area: area, Parent: parent, Leaf: leaf, Counts: map[string]int{}})
		}
		return &areas[i]
	}
	for rows.Next() {
		var v, kec, kab string
		var status *string
		var n int
		if err := rows.Scan(&v, &kec, &kab, &status, &n); err != nil {
			return nil, err
		}
		for _, a := range []*risk.AreaCounts{get("desa:"+v, "kecamatan:"+kec, true), get("kecamatan:"+kec, "kabupaten:"+kab, false), get("kabupaten:"+kab, "", false)} {
			if status != nil {
				a.Counts[*status] += n
				a.Counts[risk.PipelineTotal] += n
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	pub, err := risk.PublishTable(areas, risk.PipelineMeasures, risk.PipelineTotal, rule.MinChildren, rule)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	nrows, err := db.Pool.Query(ctx, `SELECT 'kecamatan:' || code, name FROM kecamatan UNION ALL SELECT 'kabupaten:' || code, name FROM kabupaten
		UNION ALL SELECT 'desa:' || code, name FROM village`)
	if err != nil {
		return nil, err
	}
	for nrows.Next() {
		var a, n string
		if err := nrows.Scan(&a, &n); err != nil {
			nrows.Close()
			return nil, err
		}
		names[a] = n
	}
	nrows.Close()
	out := make([]PipelineArea, 0, len(areas))
	for _, a := range areas {
		level, code, _ := strings.Cut(a.Area, ":")
		_, parent, _ := strings.Cut(a.Parent, ":")
		p := pub[a.Area]
		pa := PipelineArea{Level: level, Code: code, Name: names[a.Area], Parent: parent, Status: "published", Counts: map[string]*int{}}
		if !p.Eligible {
			pa.Status = "insufficient_data"
		}
		for _, m := range append(append([]string{}, risk.PipelineMeasures...), risk.PipelineTotal) {
			pa.Counts[m] = p.Values[m]
		}
		out = append(out, pa)
	}
	return out, nil
}
