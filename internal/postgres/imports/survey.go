package imports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// SurveyImport is one household survey export and, optionally, its children.
type SurveyImport struct {
	HouseholdFile string
	Households    *ingest.HouseholdReader
	ChildFile     string
	Children      *ingest.ChildReader // nil when there is no children file
	// MaxVillageDistance is how far (metres) a point may lie from the village
	// the enumerator named before the row is rejected. Closer points load with
	// a note: GPS error near a boundary is common.
	MaxVillageDistance float64
	// Pull, for a server pull, is where it stopped: stored with the
	// submissions, in the same transaction.
	Pull *core.PullState
	// Round names the survey round of every submission (created if new,
	// its dates widened to cover them). Empty: each submission goes to the
	// declared round whose dates cover its submission date, else to the
	// calendar year's round ("2027"), created as needed.
	Round      string
	RoundLabel string
	// Identity is the rule that matches households to earlier rounds: the
	// model's (the caller chooses which model; storage does not).
	Identity risk.Identity
}

// PullCursor returns where the last pull from source stopped ("" for never).
func (st *Store) PullCursor(ctx context.Context, source string) (string, error) {
	var c string
	err := st.db.Pool.QueryRow(ctx, `SELECT cursor FROM pull_state WHERE source = $1`, source).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return c, err
}

// ImportSurvey loads households and their children in one transaction:
// COPY into staging tables, locate every point in its village with ST_Covers,
// then upsert households on their survey uuid and replace their children.
// A household whose point lies outside every village, or too far from the
// village it names, is rejected with its children.
func (st *Store) ImportSurvey(ctx context.Context, in SurveyImport, opt core.ImportOptions) (ingest.Summary, error) {
	started := time.Now()
	sum := ingest.Summary{Kind: "survey", File: in.HouseholdFile}
	if in.Identity.MaxDistanceM <= 0 {
		return sum, risk.Errorf(risk.EINVALID, "survey import: no identity rule: pass the model's identity section (Model.Identity)")
	}
	tx, err := st.db.Pool.Begin(ctx)
	if err != nil {
		return sum, err
	}
	defer tx.Rollback(ctx)
	l := &surveyLoad{ctx: ctx, tx: tx, in: in, opt: opt, sum: &sum}
	// The named steps: stage and check every row, then write the good ones.
	check := []func() error{l.stage, l.locate, l.refuseErased,
		func() error { return assignRounds(ctx, tx, in, &sum) }, l.checkCards, l.saveFlags, l.stageChildren}
	for _, step := range check {
		if err := step(); err != nil {
			return sum, err
		}
	}
	if len(sum.Rejected) > 0 && !opt.Partial {
		return sum, sum.Rejected
	}
	for _, step := range []func() error{l.upsert, l.replaceChildren} {
		if err := step(); err != nil {
			return sum, err
		}
	}
	if err := linkIdentities(ctx, tx, in, &sum); err != nil {
		return sum, err
	}
	if in.Pull != nil && sum.Inserted+sum.Updated > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO pull_state (source, cursor, submissions) VALUES ($1, $2, $3)
			ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, submissions = excluded.submissions, pulled_at = now()`,
			in.Pull.Source, in.Pull.Cursor, in.Pull.Submissions); err != nil {
			return sum, err
		}
	}
	if err := core.FinishImport(ctx, tx, &sum, opt, started); err != nil {
		return sum, err
	}
	// The loaded rows are committed. A vacuum marks their pages all-visible
	// and sets their hint bits now, not at autovacuum's pace: until then a
	// count is a sequential scan, and an offset page's key walk a scan and
	// sort of the whole table (100 households 2,700,000 deep: 5.4 s right
	// after importing 3,000,000). It cannot fail the import.
	if _, err := st.db.Pool.Exec(ctx, `VACUUM (ANALYZE) household, child`); err != nil {
		sum.Notes = append(sum.Notes, ingest.Problem{File: sum.File, Reason: "loaded; the tables were not vacuumed after the import (" + err.Error() + "): autovacuum will"})
	}
	return sum, nil
}

// surveyLoad is one survey import in progress: its transaction, its input
// and summary, and the lines flagged so far (a note, or a rejection). Its
// steps run in ImportSurvey's order, each a statement or two over the
// staging tables.
type surveyLoad struct {
	ctx context.Context
	tx  pgx.Tx
	in  SurveyImport
	opt core.ImportOptions
	sum *ingest.Summary

	flagLines    []int32
	flagNotes    []string
	flagRejected []bool
}

// flag notes a line (rejected, or loaded with the note).
func (l *surveyLoad) flag(line int, note string, rejected bool) {
	l.flagLines, l.flagNotes, l.flagRejected = append(l.flagLines, int32(line)), append(l.flagNotes, note), append(l.flagRejected, rejected)
}

// stage copies the households into a staging table (children follow
// in stageChildren, once the households are checked).
func (l *surveyLoad) stage() error {
	ctx, tx, in, sum, opt := l.ctx, l.tx, l.in, l.sum, l.opt
	if _, err := tx.Exec(ctx, `
		CREATE TEMP TABLE stage_household (line int, off bigint, key text, survey_uuid text, source text,
			submitted_at timestamptz, reported text, programme_id text, geom geometry, precision_m real,
			livelihoods text[], poverty text[], education text, single_parent boolean,
			members smallint, working_adults smallint) ON COMMIT DROP;
		CREATE TEMP TABLE stage_child (line int, survey_uuid text, ordinal smallint, age smallint, sex text,
			school_status text, absence smallint, works boolean, hours_week real, hours_day real,
			school_hours boolean, tasks text[], gts text[], disability boolean, special_needs boolean,
			orphan text) ON COMMIT DROP`); err != nil {
		return err
	}

	hs := &rowSource[ingest.HouseholdRow]{next: in.Households.Next, values: householdValues, stage: "households", sum: sum, opt: opt}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_household"},
		[]string{"line", "off", "key", "survey_uuid", "source", "submitted_at", "reported", "programme_id", "geom", "precision_m",
			"livelihoods", "poverty", "education", "single_parent", "members", "working_adults"}, hs); err != nil {
		return err
	}
	opt.Step("households", hs.n)
	sum.Read = hs.read + in.Households.Skipped()
	sum.Skipped = in.Households.Skipped()
	return nil
}

// locate finds each household's village from its point, and rejects or
// notes a point outside every village or away from the village named.
func (l *surveyLoad) locate() error {
	ctx, tx, in, sum := l.ctx, l.tx, l.in, l.sum
	// Locate each point. Villages drive the join (a GiST index on a narrow
	// table of the staged points), so each village polygon is prepared once
	// for all its points instead of once per point: 5x faster on the 783
	// real villages. The points are stored in spatial order (ORDER BY geom
	// sorts on a space-filling curve), so one village's points share pages:
	// 4x faster again at 1,000,000 households. A point on a shared boundary, or in
	// two overlapping villages, belongs to the village it names if that is
	// one of them, else to the lowest code: the same village every time.
	if _, err := tx.Exec(ctx, `
		SET LOCAL jit = off;
		CREATE TEMP TABLE stage_pt ON COMMIT DROP AS SELECT line, reported, geom FROM stage_household ORDER BY geom;
		CREATE INDEX ON stage_pt USING gist (geom);
		CREATE TEMP TABLE stage_cover ON COMMIT DROP AS
		SELECT DISTINCT ON (p.line) p.line, v.code
		FROM village v CROSS JOIN LATERAL (
		    SELECT p.line, p.reported FROM stage_pt p WHERE ST_Covers(v.geom, p.geom) OFFSET 0) p
		ORDER BY p.line, (v.code = p.reported) DESC, v.code;
		ANALYZE stage_cover;
		ANALYZE stage_household (line, survey_uuid);
		CREATE TEMP TABLE stage_flag (line int PRIMARY KEY, note text, rejected boolean NOT NULL) ON COMMIT DROP`); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `
		SELECT s.survey_uuid, s.line, s.off, s.key, c.code, coalesce(s.reported, ''), rv.code IS NOT NULL,
		       coalesce(ST_Distance(rv.geom::geography, s.geom::geography), 0), ST_Y(s.geom), ST_X(s.geom)
		FROM stage_household s LEFT JOIN stage_cover c USING (line) LEFT JOIN village rv ON rv.code = s.reported
		WHERE c.code IS NULL OR (coalesce(s.reported, '') <> '' AND s.reported <> c.code)
		ORDER BY s.line`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var uuid, key, reported string
		var village *string
		var line int
		var off int64
		var known bool
		var dist, lat, lon float64
		if err := rows.Scan(&uuid, &line, &off, &key, &village, &reported, &known, &dist, &lat, &lon); err != nil {
			return err
		}
		p := ingest.Problem{File: in.HouseholdFile, Row: line, Column: "gps", Code: uuid, Offset: off}
		switch {
		case village == nil:
			p.Reason = fmt.Sprintf("point (%.6f, %.6f) lies outside every village in the database", lat, lon)
		case !known:
			p.Reason = fmt.Sprintf("reported village %s is not in the database; the point lies in %s", reported, *village)
		case dist > in.MaxVillageDistance:
			p.Reason = fmt.Sprintf("point lies in village %s, %.0f m from the reported village %s (more than %.0f m)", *village, dist, reported, in.MaxVillageDistance)
		default:
			p.Reason = fmt.Sprintf("point lies in village %s, %.0f m from the reported village %s", *village, dist, reported)
			sum.Notes = append(sum.Notes, p)
			l.flag(line, p.Reason, false)
			continue
		}
		if village != nil && !known {
			sum.Notes = append(sum.Notes, p)
			l.flag(line, p.Reason, false)
			continue
		}
		sum.Rejected = append(sum.Rejected, p)
		l.flag(line, p.Reason, true)
		in.Households.RejectHousehold(key)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return nil
}

// refuseErased rejects the submissions of erased households.
func (l *surveyLoad) refuseErased() error {
	ctx, tx, in, sum := l.ctx, l.tx, l.in, l.sum
	// A household erased at its request (or after the retention period) is
	// never brought back by importing its submission again.
	var erasures bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM erasure)`).Scan(&erasures); err != nil {
		return err
	}
	if erasures {
		rows, err := tx.Query(ctx, `
			SELECT s.survey_uuid, s.line, s.off, s.key, e.erased_at, e.kind
			FROM stage_household s JOIN erasure e ON e.uuid_hash = erasure_hash(s.survey_uuid)
			WHERE NOT EXISTS (SELECT 1 FROM unnest($1::int[]) l WHERE l = s.line)
			ORDER BY s.line`, l.flagLines)
		if err != nil {
			return err
		}
		for rows.Next() {
			var uuid, key, kind string
			var line int
			var off int64
			var at time.Time
			if err := rows.Scan(&uuid, &line, &off, &key, &at, &kind); err != nil {
				return err
			}
			why := "at the household's request (consent withdrawn or erasure asked)"
			if kind == "retention" {
				why = "at the end of the retention period"
			}
			col := "_uuid"
			if in.Households.Format() == ingest.ODK {
				col = "KEY"
			}
			p := ingest.Problem{File: in.HouseholdFile, Row: line, Column: col, Code: uuid, Offset: off,
				Reason: fmt.Sprintf("this submission was erased on %s %s and is not loaded again: delete it on the server (KoBoToolbox/ODK Central) so it is not exported any more",
					at.Format("2006-01-02"), why)}
			sum.Rejected = append(sum.Rejected, p)
			l.flag(line, p.Reason, true)
			in.Households.RejectHousehold(key)
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// checkCards rejects a card number another household of the round holds.
func (l *surveyLoad) checkCards() error {
	ctx, tx, in, sum := l.ctx, l.tx, l.in, l.sum
	// A programme card number names one household in a round: a row that
	// gives one already held by another household of the round is rejected
	// with both named (the database's unique index would otherwise fail the
	// whole file with no row). Two rows of one file with the same card are
	// rejected as the file is read (ingest).
	rows, err := tx.Query(ctx, `
		SELECT s.survey_uuid, s.line, s.off, s.key, s.programme_id, r.round_id, h.survey_uuid
		FROM stage_household s JOIN stage_round r USING (line)
		JOIN household h ON h.round_id = r.round_id AND h.programme_id = s.programme_id AND h.survey_uuid <> s.survey_uuid
		WHERE coalesce(s.programme_id, '') <> '' AND NOT (s.line = ANY(coalesce($1::int[], '{}')))
			-- a household whose card moves to another in this same file is not a holder
			AND NOT EXISTS (SELECT 1 FROM stage_household o WHERE o.survey_uuid = h.survey_uuid)
		ORDER BY s.line`, l.flagLines)
	if err != nil {
		return err
	}
	for rows.Next() {
		var uuid, key, card, round, holder string
		var line int
		var off int64
		if err := rows.Scan(&uuid, &line, &off, &key, &card, &round, &holder); err != nil {
			rows.Close()
			return err
		}
		p := ingest.Problem{File: in.HouseholdFile, Row: line, Column: "programme_id", Code: uuid, Offset: off,
			Reason: fmt.Sprintf("programme id %s is already household %s's in round %s: one card, one household a round (is the number mistyped?)", card, holder, round)}
		sum.Rejected = append(sum.Rejected, p)
		l.flag(line, p.Reason, true)
		in.Households.RejectHousehold(key)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return nil
}

// saveFlags keeps the notes and rejections for the upsert, one per line.
func (l *surveyLoad) saveFlags() error {
	ctx, tx := l.ctx, l.tx
	if _, err := tx.Exec(ctx, `INSERT INTO stage_flag
		SELECT DISTINCT ON (l) l, n, r FROM unnest($1::int[], $2::text[], $3::boolean[]) AS f(l, n, r) ORDER BY l, r DESC`,
		l.flagLines, l.flagNotes, l.flagRejected); err != nil {
		return err
	}
	return nil
}

// stageChildren copies the children into their staging table.
func (l *surveyLoad) stageChildren() error {
	ctx, tx, in, sum, opt := l.ctx, l.tx, l.in, l.sum, l.opt
	if in.Children != nil {
		cs := &rowSource[ingest.ChildRow]{next: in.Children.Next, values: childValues, stage: "children", sum: sum, opt: opt}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_child"},
			[]string{"line", "survey_uuid", "ordinal", "age", "sex", "school_status", "absence", "works", "hours_week",
				"hours_day", "school_hours", "tasks", "gts", "disability", "special_needs", "orphan"}, cs); err != nil {
			return err
		}
		opt.Step("children", cs.n)
		sum.Children.Skipped = in.Children.Skipped()
	}
	return nil
}

// upsert updates the households seen before and inserts the new ones.
func (l *surveyLoad) upsert() error {
	ctx, tx, sum := l.ctx, l.tx, l.sum
	// Update the households seen before, then insert the new ones. Two plain
	// statements instead of INSERT ... ON CONFLICT: speculative insertion
	// costs a quarter more at 1,000,000 rows. The lock makes concurrent
	// imports wait for each other (readers are not blocked), so no other
	// import can insert a uuid between the two.
	if _, err := tx.Exec(ctx, `
		LOCK TABLE household IN SHARE ROW EXCLUSIVE MODE;
		CREATE TEMP TABLE upserted (id bigint, survey_uuid text, inserted boolean) ON COMMIT DROP;
		CREATE TEMP TABLE stage_ok ON COMMIT DROP AS
		SELECT s.*, c.code AS village_code, f.note, r.round_id
		FROM stage_household s JOIN stage_cover c USING (line) LEFT JOIN stage_flag f USING (line) JOIN stage_round r USING (line)
		WHERE f.rejected IS NOT TRUE;
		WITH up AS (
			UPDATE household h SET source = s.source, submitted_at = s.submitted_at, village_code = s.village_code,
				round_id = s.round_id, programme_id = s.programme_id,
				reported_village_code = nullif(s.reported, ''), geom = s.geom, gps_precision_m = nullif(s.precision_m, 0),
				livelihoods = coalesce(s.livelihoods, '{}'), poverty_programmes = coalesce(s.poverty, '{}'),
				caregiver_education = s.education, single_parent = s.single_parent, members = s.members,
				working_adults = s.working_adults, location_note = s.note, imported_at = now()
			FROM stage_ok s WHERE h.survey_uuid = s.survey_uuid
			RETURNING h.id, h.survey_uuid)
		INSERT INTO upserted SELECT id, survey_uuid, false FROM up;
		-- A new household is its own identity until matched to an earlier
		-- round (linkIdentities): its id is drawn first, so that identity_id
		-- is written with the row, not by an UPDATE of every row after.
		WITH ins AS (
			INSERT INTO household (id, identity_id, identity_rule, survey_uuid, source, submitted_at, village_code, reported_village_code, geom,
				gps_precision_m, livelihoods, poverty_programmes, caregiver_education, single_parent, members,
				working_adults, location_note, round_id, programme_id)
			OVERRIDING SYSTEM VALUE
			SELECT s.id, s.id, 'new', s.survey_uuid, s.source, s.submitted_at, s.village_code, nullif(s.reported, ''), s.geom,
				nullif(s.precision_m, 0), coalesce(s.livelihoods, '{}'), coalesce(s.poverty, '{}'), s.education,
				s.single_parent, s.members, s.working_adults, s.note, s.round_id, s.programme_id
			FROM (SELECT nextval(pg_get_serial_sequence('household', 'id')) AS id, s.* FROM stage_ok s
			      WHERE NOT EXISTS (SELECT 1 FROM upserted u WHERE u.survey_uuid = s.survey_uuid)) s
			RETURNING id, survey_uuid)
		INSERT INTO upserted SELECT id, survey_uuid, true FROM ins;
		ANALYZE upserted;
		ANALYZE stage_child (survey_uuid)`); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted`).
		Scan(&sum.Inserted, &sum.Updated); err != nil {
		return err
	}
	return nil
}

// replaceChildren moves the data version of households whose children
// changed and replaces the children of every household written.
func (l *surveyLoad) replaceChildren() error {
	ctx, tx, sum := l.ctx, l.tx, l.sum
	// A household written again keeps its data_version (household_data_changed
	// compares its own columns); its children are compared here, once, as
	// the import replaces them all, and only a real difference moves the
	// version the release bases count changes by (migration 015).
	if _, err := tx.Exec(ctx, `
		SELECT set_config('riskmap.import', 'on', true), set_config('riskmap.data_version', 'set', true);
		UPDATE household h SET data_version = nextval('household_data_version')
		FROM upserted u
		WHERE h.id = u.id AND NOT u.inserted
		  AND (SELECT string_agg(concat_ws('|', c.ordinal, c.age, c.sex, c.school_status, c.harvest_absence_days, c.works,
				c.work_hours_week, c.work_hours_day, c.works_in_school_hours, c.tasks, c.gts_symptoms, c.disability,
				c.special_needs, c.orphan), ';' ORDER BY c.ordinal) FROM child c WHERE c.household_id = u.id)
		  IS DISTINCT FROM
		      (SELECT string_agg(concat_ws('|', s.ordinal, s.age, s.sex, s.school_status, s.absence, s.works,
				s.hours_week, s.hours_day, s.school_hours, coalesce(s.tasks, '{}'), coalesce(s.gts, '{}'), s.disability,
				s.special_needs, s.orphan), ';' ORDER BY s.ordinal) FROM stage_child s WHERE s.survey_uuid = u.survey_uuid);
		SELECT set_config('riskmap.data_version', '', true)`); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM child c USING upserted u WHERE c.household_id = u.id AND NOT u.inserted`)
	if err != nil {
		return err
	}
	sum.Children.Replaced = int(tag.RowsAffected())
	tag, err = tx.Exec(ctx, `
		INSERT INTO child (household_id, ordinal, person, age, sex, school_status, harvest_absence_days, works,
			work_hours_week, work_hours_day, works_in_school_hours, tasks, gts_symptoms, disability, special_needs, orphan)
		SELECT u.id, c.ordinal, c.ordinal, c.age, c.sex, c.school_status, c.absence, c.works, c.hours_week, c.hours_day,
			c.school_hours, coalesce(c.tasks, '{}'), coalesce(c.gts, '{}'), c.disability, c.special_needs, c.orphan
		FROM stage_child c JOIN upserted u USING (survey_uuid)
		-- In key order: each row's foreign-key check and its child_pkey entry
		-- then land where the previous row's did (new households' ids are
		-- the greatest), not on a random page of each.
		ORDER BY u.id, c.ordinal`)
	if err != nil {
		return err
	}
	sum.Children.Inserted = int(tag.RowsAffected())
	return nil
}

// rowSource feeds COPY from a reader of rows of type T, setting aside the
// rows the reader rejects and telling Progress every 20,000 rows.
type rowSource[T any] struct {
	next   func() (T, *ingest.Problem, error)
	values func(T) ([]any, error)
	stage  string
	sum    *ingest.Summary
	opt    core.ImportOptions
	row    T
	read   int   // rows read
	n      int64 // rows passed to COPY
	err    error
}

func (s *rowSource[T]) Next() bool {
	for {
		row, prob, err := s.next()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			s.err = err
			return false
		}
		s.read++
		if prob != nil {
			s.sum.Rejected = append(s.sum.Rejected, *prob)
			continue
		}
		s.row = row
		if s.n++; s.n%20000 == 0 {
			s.opt.Step(s.stage, s.n)
		}
		return true
	}
}

func (s *rowSource[T]) Values() ([]any, error) { return s.values(s.row) }

func (s *rowSource[T]) Err() error { return s.err }

func householdValues(row ingest.HouseholdRow) ([]any, error) {
	h := &row.Household
	var submitted, education any
	if !h.SubmittedAt.IsZero() {
		submitted = h.SubmittedAt
	}
	if h.CaregiverEducation != "" {
		education = h.CaregiverEducation
	}
	pt, err := core.EncodePoint(h.Lon, h.Lat)
	if err != nil {
		return nil, err
	}
	var card any
	if h.ProgrammeID != "" {
		card = h.ProgrammeID
	}
	return []any{int32(row.Line), row.Offset, row.Key, h.SurveyUUID, h.Source, submitted, h.ReportedVillage, card,
		pt, float32(h.GPSPrecision), h.Livelihoods, h.PovertyProgrammes, education, h.SingleParent,
		int16(h.Members), int16(h.WorkingAdults)}, nil
}

func childValues(row ingest.ChildRow) ([]any, error) {
	c := &row.Child
	return []any{int32(row.Line), c.HouseholdUUID, int16(c.Ordinal), int16(c.Age), c.Sex, c.SchoolStatus,
		int16(c.HarvestAbsenceDays), c.Works, float32(c.WorkHoursWeek), float32(c.WorkHoursDay), c.WorksInSchoolHours,
		c.Tasks, c.GTSSymptoms, c.Disability, c.SpecialNeeds, c.Orphan}, nil
}
