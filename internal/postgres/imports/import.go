// Package imports is how data comes into riskmap's storage: boundaries
// (and the tile pieces cut from them), plantations, calendars, and the
// household survey with its rounds and the identity that links a household
// across rounds (risk.Identity decides; this package finds the candidates
// and stores the links). Every import is one transaction: all of a file or
// none of it, with the rejected rows reported.
package imports

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Store is the imports subject over a core.
type Store struct{ db *core.DB }

// New returns the imports store over a core.
func New(db *core.DB) *Store { return &Store{db: db} }

// upsertBoundary holds, per level, the statement that moves the staged
// areas into their table. Table names come from this allow-list only.
var upsertBoundary = map[string]string{
	"kabupaten": `INSERT INTO kabupaten (code, name, geom, repair_note)
		SELECT key, name, geom, repair FROM stage_area WHERE NOT rejected
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, geom = excluded.geom,
			repair_note = excluded.repair_note, imported_at = now()
		RETURNING (xmax = 0) AS inserted`,
	"kecamatan": `INSERT INTO kecamatan (code, name, kabupaten_code, geom, repair_note)
		SELECT key, name, parent, geom, repair FROM stage_area WHERE NOT rejected
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, kabupaten_code = excluded.kabupaten_code,
			geom = excluded.geom, repair_note = excluded.repair_note, imported_at = now()
		RETURNING (xmax = 0) AS inserted`,
	"desa": `INSERT INTO village (code, name, kecamatan_code, kabupaten_code, geom, repair_note)
		SELECT key, name, parent, left(parent, 5), geom, repair FROM stage_area WHERE NOT rejected
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, kecamatan_code = excluded.kecamatan_code,
			kabupaten_code = excluded.kabupaten_code, geom = excluded.geom,
			repair_note = excluded.repair_note, imported_at = now()
		RETURNING (xmax = 0) AS inserted`,
}

// ImportBoundaries loads one level of administrative areas in one
// transaction. Invalid shapes are repaired with ST_MakeValid and listed;
// problems found while reading (rejected) are added to the summary.
func (st *Store) ImportBoundaries(ctx context.Context, level, file string, areas []ingest.BoundaryFeature, rejected ingest.Problems, opt core.ImportOptions) (ingest.Summary, error) {
	started := time.Now()
	sum := ingest.Summary{Kind: "boundaries/" + level, File: file, Read: len(areas) + len(rejected), Rejected: rejected}
	upsert, ok := upsertBoundary[level]
	if !ok {
		return sum, risk.Errorf(risk.EINVALID, "level %q: want kabupaten, kecamatan or desa", level)
	}
	tx, err := st.db.Pool.Begin(ctx)
	if err != nil {
		return sum, err
	}
	defer tx.Rollback(ctx)
	staged := make([]stagedArea, len(areas))
	for i, a := range areas {
		staged[i] = stagedArea{Area: a.Area, key: a.Code, extra: []any{a.Name, a.ParentCode}}
	}
	if err := stageAreas(ctx, tx, file, []string{"name", "parent"}, staged, &sum); err != nil {
		return sum, err
	}
	opt.Step(sum.Kind, int64(len(staged)))
	if err := countUpserts(ctx, tx, upsert, &sum); err != nil {
		return sum, err
	}
	return sum, core.FinishImport(ctx, tx, &sum, opt, started)
}

// countUpserts runs an INSERT ... ON CONFLICT ... RETURNING (xmax = 0) and
// counts inserted and updated rows.
func countUpserts(ctx context.Context, tx pgx.Tx, upsert string, sum *ingest.Summary, args ...any) error {
	return tx.QueryRow(ctx, `WITH up AS (`+upsert+`)
		SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up`, args...).Scan(&sum.Inserted, &sum.Updated)
}

// DeriveParents builds kecamatan and kabupaten areas by dissolving the
// villages (ST_Union) of every parent code that has no boundary of its own.
// Names come from names, keyed by code.
func (st *Store) DeriveParents(ctx context.Context, names map[string]string) error {
	codes, labels := make([]string, 0, len(names)), make([]string, 0, len(names))
	for c, n := range names {
		codes, labels = append(codes, c), append(labels, n)
	}
	return pgx.BeginFunc(ctx, st.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO kecamatan (code, name, kabupaten_code, geom)
			SELECT v.kecamatan_code, coalesce(n.name, 'Kecamatan ' || v.kecamatan_code), min(v.kabupaten_code),
			       ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(v.geom)), 3))
			FROM village v LEFT JOIN unnest($1::text[], $2::text[]) AS n(code, name) ON n.code = v.kecamatan_code
			WHERE NOT EXISTS (SELECT 1 FROM kecamatan k WHERE k.code = v.kecamatan_code)
			GROUP BY v.kecamatan_code, n.name`, codes, labels); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO kabupaten (code, name, geom)
			SELECT k.kabupaten_code, coalesce(n.name, 'Kabupaten ' || k.kabupaten_code),
			       ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(k.geom)), 3))
			FROM kecamatan k LEFT JOIN unnest($1::text[], $2::text[]) AS n(code, name) ON n.code = k.kabupaten_code
			WHERE NOT EXISTS (SELECT 1 FROM kabupaten b WHERE b.code = k.kabupaten_code)
			GROUP BY k.kabupaten_code, n.name`, codes, labels)
		return err
	})
}

// ImportPlantations loads tobacco fields; each field's village is the one
// that covers a point on its surface.
func (st *Store) ImportPlantations(ctx context.Context, file string, fields []ingest.PlantationFeature, rejected ingest.Problems, opt core.ImportOptions) (ingest.Summary, error) {
	started := time.Now()
	sum := ingest.Summary{Kind: "plantations", File: file, Read: len(fields) + len(rejected), Rejected: rejected}
	tx, err := st.db.Pool.Begin(ctx)
	if err != nil {
		return sum, err
	}
	defer tx.Rollback(ctx)
	staged := make([]stagedArea, len(fields))
	for i, f := range fields {
		var planted any
		if !f.PlantingDate.IsZero() {
			planted = f.PlantingDate.Format("2006-01-02")
		}
		staged[i] = stagedArea{Area: f.Area, key: f.ID, extra: []any{f.Variety, planted}}
	}
	if err := stageAreas(ctx, tx, file, []string{"variety", "planted"}, staged, &sum); err != nil {
		return sum, err
	}
	opt.Step(sum.Kind, int64(len(staged)))
	err = countUpserts(ctx, tx, `
		INSERT INTO plantation (id, variety, planting_date, village_code, geom)
		SELECT s.key, s.variety, s.planted::date,
		       (SELECT v.code FROM village v WHERE ST_Covers(v.geom, ST_PointOnSurface(s.geom)) ORDER BY v.code LIMIT 1), s.geom
		FROM stage_area s WHERE NOT s.rejected
		ON CONFLICT (id) DO UPDATE SET variety = excluded.variety, planting_date = excluded.planting_date,
			village_code = excluded.village_code, geom = excluded.geom, imported_at = now()
		RETURNING (xmax = 0) AS inserted`, &sum)
	if err != nil {
		return sum, err
	}
	return sum, core.FinishImport(ctx, tx, &sum, opt, started)
}

// ImportCalendar loads labour-index rows, replacing those of the same variety and month.
func (st *Store) ImportCalendar(ctx context.Context, file string, entries []risk.CalendarEntry, rejected ingest.Problems, opt core.ImportOptions) (ingest.Summary, error) {
	started := time.Now()
	sum := ingest.Summary{Kind: "calendar", File: file, Read: len(entries) + len(rejected), Rejected: rejected}
	tx, err := st.db.Pool.Begin(ctx)
	if err != nil {
		return sum, err
	}
	defer tx.Rollback(ctx)
	var varieties, notes []string
	var months []int
	var idx []float64
	for _, e := range entries {
		varieties, months, idx, notes = append(varieties, e.Variety), append(months, e.Month), append(idx, e.LabourIdx), append(notes, e.Note)
	}
	err = countUpserts(ctx, tx, `
		INSERT INTO labour_calendar (variety, month, labour_index, note)
		SELECT v, m, x, nullif(n, '') FROM unnest($1::text[], $2::int[], $3::float8[], $4::text[]) AS u(v, m, x, n)
		ON CONFLICT (variety, month) DO UPDATE SET labour_index = excluded.labour_index, note = excluded.note
		RETURNING (xmax = 0) AS inserted`, &sum, varieties, months, idx, notes)
	if err != nil {
		return sum, err
	}
	return sum, core.FinishImport(ctx, tx, &sum, opt, started)
}

// stagedArea is one polygon feature on its way into stage_area.
type stagedArea struct {
	ingest.Area
	key   string // the feature's code or id
	extra []any  // values of the extra columns, all staged as text
}

// stageAreas copies polygons into the temporary table stage_area (key, the
// extra columns, geom), repairs invalid ones with ST_MakeValid, and adds the
// repairs, and the shapes nothing is left of, to the summary.
func stageAreas(ctx context.Context, tx pgx.Tx, file string, extra []string, areas []stagedArea, sum *ingest.Summary) error {
	create := `CREATE TEMP TABLE stage_area (idx int PRIMARY KEY, key text, wkb bytea, note text, geom geometry,
		repair text, rejected boolean NOT NULL DEFAULT false`
	for _, c := range extra {
		create += ", " + pgx.Identifier{c}.Sanitize() + " text"
	}
	if _, err := tx.Exec(ctx, create+") ON COMMIT DROP"); err != nil {
		return err
	}
	rows := make([][]any, len(areas))
	raw := make(map[int]string, len(areas))
	for i, a := range areas {
		b, err := core.EncodeMultiPolygon(a.Geom)
		if err != nil {
			return fmt.Errorf("%s: feature %d: %w", file, a.Index, err)
		}
		var note any
		if a.Note != "" {
			note = a.Note
		}
		rows[i] = append([]any{a.Index, a.key, b, note}, a.extra...)
		raw[a.Index] = a.Raw
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_area"}, append([]string{"idx", "key", "wkb", "note"}, extra...), pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `
		WITH g AS (SELECT idx, ST_GeomFromEWKB(wkb) AS g FROM stage_area)
		UPDATE stage_area s SET
			geom = CASE WHEN ST_IsValid(g.g) THEN ST_Multi(g.g)
			            ELSE ST_Multi(ST_CollectionExtract(ST_MakeValid(g.g), 3)) END,
			repair = CASE WHEN ST_IsValid(g.g) THEN s.note ELSE concat_ws('; ', s.note, ST_IsValidReason(g.g)) END
		FROM g WHERE g.idx = s.idx;
		UPDATE stage_area SET rejected = true WHERE ST_IsEmpty(geom)`); err != nil {
		return err
	}
	r, err := tx.Query(ctx, `SELECT idx, key, repair, rejected FROM stage_area WHERE repair IS NOT NULL ORDER BY idx`)
	if err != nil {
		return err
	}
	defer r.Close()
	for r.Next() {
		var rep ingest.Repair
		var bad bool
		if err := r.Scan(&rep.Index, &rep.Code, &rep.Reason, &bad); err != nil {
			return err
		}
		if bad {
			sum.Rejected = append(sum.Rejected, ingest.Problem{File: file, Row: rep.Index, Column: "geometry", Code: rep.Code,
				Reason: "invalid polygon (" + rep.Reason + ") has no area left after ST_MakeValid", Raw: raw[rep.Index]})
			continue
		}
		sum.Repaired = append(sum.Repaired, rep)
	}
	return r.Err()
}

// ImportInstitutions loads villages' protective institutions; a village code
// that is not in the database rejects the row.
func (st *Store) ImportInstitutions(ctx context.Context, file string, ins []ingest.Institution, rejected ingest.Problems, opt core.ImportOptions) (ingest.Summary, error) {
	started := time.Now()
	sum := ingest.Summary{Kind: "institutions", File: file, Read: len(ins) + len(rejected), Rejected: rejected}
	tx, err := st.db.Pool.Begin(ctx)
	if err != nil {
		return sum, err
	}
	defer tx.Rollback(ctx)
	codes := make([]string, len(ins))
	for i, in := range ins {
		codes[i] = in.VillageCode
	}
	// One query for all rows, not one a row: which codes name no village.
	known, err := lookup(ctx, tx, `SELECT u.i, v.code IS NOT NULL FROM unnest($1::text[]) WITH ORDINALITY u(code, i)
		LEFT JOIN village v ON v.code = u.code`, codes)
	if err != nil {
		return sum, err
	}
	var villages, kinds, notes []string
	var established []*time.Time
	for i, in := range ins {
		if !known[i] {
			sum.Rejected = append(sum.Rejected, ingest.Problem{File: file, Row: in.Line, Column: "village_code", Code: in.VillageCode,
				Reason: "no such village in the database", Raw: in.Raw})
			continue
		}
		var e *time.Time
		if !in.Established.IsZero() {
			t := in.Established
			e = &t
		}
		villages, kinds, established, notes = append(villages, in.VillageCode), append(kinds, in.Kind), append(established, e), append(notes, in.Note)
	}
	err = countUpserts(ctx, tx, `
		INSERT INTO institution (village_code, kind, established, note)
		SELECT v, k, e, nullif(n, '') FROM unnest($1::text[], $2::text[], $3::date[], $4::text[]) AS u(v, k, e, n)
		ON CONFLICT (village_code, kind) DO UPDATE SET established = excluded.established, note = excluded.note
		RETURNING (xmax = 0) AS inserted`, &sum, villages, kinds, established, notes)
	if err != nil {
		return sum, err
	}
	return sum, core.FinishImport(ctx, tx, &sum, opt, started)
}

// ImportFollowUps loads households under follow-up, found by survey uuid.
func (st *Store) ImportFollowUps(ctx context.Context, file string, fus []ingest.FollowUp, rejected ingest.Problems, opt core.ImportOptions) (ingest.Summary, error) {
	started := time.Now()
	sum := ingest.Summary{Kind: "follow-ups", File: file, Read: len(fus) + len(rejected), Rejected: rejected}
	tx, err := st.db.Pool.Begin(ctx)
	if err != nil {
		return sum, err
	}
	defer tx.Rollback(ctx)
	uuids := make([]string, len(fus))
	for i, f := range fus {
		uuids[i] = f.SurveyUUID
	}
	// One query for all rows: each uuid's household id, 0 when there is none.
	hid := map[int]int64{}
	rows, err := tx.Query(ctx, `SELECT u.i, coalesce(h.id, 0) FROM unnest($1::text[]) WITH ORDINALITY u(uuid, i)
		LEFT JOIN household h ON h.survey_uuid = u.uuid`, uuids)
	if err != nil {
		return sum, err
	}
	for rows.Next() {
		var i, id int64
		if err := rows.Scan(&i, &id); err != nil {
			return sum, err
		}
		hid[int(i)-1] = id
	}
	if err := rows.Err(); err != nil {
		return sum, err
	}
	var ids []int64
	var startedOn []time.Time
	var endedOn []*time.Time
	var notes []string
	for i, f := range fus {
		if hid[i] == 0 {
			sum.Rejected = append(sum.Rejected, ingest.Problem{File: file, Row: f.Line, Column: "survey_uuid", Code: f.SurveyUUID,
				Reason: "no household with this survey uuid", Raw: f.Raw})
			continue
		}
		var e *time.Time
		if !f.Ended.IsZero() {
			t := f.Ended
			e = &t
		}
		ids, startedOn, endedOn, notes = append(ids, hid[i]), append(startedOn, f.Started), append(endedOn, e), append(notes, f.Note)
	}
	err = countUpserts(ctx, tx, `
		INSERT INTO follow_up (household_id, started_on, ended_on, note)
		SELECT h, s, e, nullif(n, '') FROM unnest($1::bigint[], $2::date[], $3::date[], $4::text[]) AS u(h, s, e, n)
		ON CONFLICT (household_id, started_on) DO UPDATE SET ended_on = excluded.ended_on, note = excluded.note
		RETURNING (xmax = 0) AS inserted`, &sum, ids, startedOn, endedOn, notes)
	if err != nil {
		return sum, err
	}
	return sum, core.FinishImport(ctx, tx, &sum, opt, started)
}

// lookup runs a query of (1-based ordinal, found) over its argument and
// returns found by 0-based position.
func lookup(ctx context.Context, tx pgx.Tx, sql string, keys []string) (map[int]bool, error) {
	rows, err := tx.Query(ctx, sql, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int]bool, len(keys))
	for rows.Next() {
		var i int64
		var ok bool
		if err := rows.Scan(&i, &ok); err != nil {
			return nil, err
		}
		out[int(i)-1] = ok
	}
	return out, rows.Err()
}
