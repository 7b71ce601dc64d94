package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Erasure says who erases a household and why.
type Erasure struct {
	UUID   string
	By     string // a person's name or role, for the record
	Reason string
	Kind   string // "request" (withdrawal, erasure on request) or "retention"
	KeyID  int64  // the API key, when erased over HTTP
	Role   string // the role, for the audit log
}

// EraseHousehold removes a household and every row keyed by it (migration
// 009's erase_household), leaving an erasure record and an audit entry
// without its uuid. It returns the household's village, whose published
// figures still count it until the next scoring run.
func (st *Store) EraseHousehold(ctx context.Context, e Erasure) (string, error) {
	if e.Kind == "" {
		e.Kind = "request"
	}
	if e.Role == "" {
		e.Role = "admin"
	}
	var key *int64
	if e.KeyID != 0 {
		key = &e.KeyID
	}
	var village string
	err := st.db.Pool.QueryRow(ctx, `SELECT erase_household($1, $2, $3, $4, $5, $6)`, e.UUID, e.By, e.Reason, e.Kind, key, e.Role).Scan(&village)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "P0002":
			return "", risk.Errorf(risk.ENOTFOUND, "no household with survey uuid %q (already erased, or never imported)", e.UUID)
		case "22023":
			return "", risk.Errorf(risk.EINVALID, "a reason for the erasure is required")
		}
	}
	return village, core.Wrap(err)
}

// HouseholdRecord is everything riskmap holds about one household: its row,
// the rows of every table keyed by it, and the audit entries that name it.
type HouseholdRecord struct {
	SurveyUUID string                       `json:"survey_uuid"`
	ExportedAt time.Time                    `json:"exported_at"`
	Household  json.RawMessage              `json:"household"`
	Tables     map[string][]json.RawMessage `json:"tables"`
	Audit      []AuditEntry                 `json:"audit"`
}

// householdTables lists the base tables with a household_id column: the
// same catalogue query erase_household uses, so export and erasure cover
// the same tables.
func householdTables(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]string, error) {
	rows, err := q.Query(ctx, `
		SELECT c.table_name FROM information_schema.columns c
		JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
		WHERE c.table_schema = 'public' AND c.column_name = 'household_id' AND tb.table_type = 'BASE TABLE'
		ORDER BY c.table_name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ExportHousehold gathers a household's record, for an access request.
func (st *Store) ExportHousehold(ctx context.Context, uuid string) (HouseholdRecord, error) {
	rec := HouseholdRecord{SurveyUUID: uuid, ExportedAt: time.Now().UTC(), Tables: map[string][]json.RawMessage{}}
	tx, err := st.db.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rec, core.Wrap(err)
	}
	defer tx.Rollback(ctx)
	var id int64
	err = tx.QueryRow(ctx, `SELECT id, to_jsonb(h) - 'geom' || jsonb_build_object('longitude', ST_X(geom), 'latitude', ST_Y(geom))
		FROM household h WHERE survey_uuid = $1`, uuid).Scan(&id, &rec.Household)
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, risk.Errorf(risk.ENOTFOUND, "no household with survey uuid %q", uuid)
	}
	if err != nil {
		return rec, core.Wrap(err)
	}
	tables, err := householdTables(ctx, tx)
	if err != nil {
		return rec, err
	}
	for _, t := range tables {
		// Geometry columns as text (the masked point, for example).
		rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT to_jsonb(t) - 'geom' || CASE WHEN to_jsonb(t) ? 'geom'
			THEN jsonb_build_object('geom', ST_AsText((to_jsonb(t)->>'geom')::geometry)) ELSE '{}' END
			FROM %s t WHERE household_id = $1`, pgx.Identifier{t}.Sanitize()), id)
		if err != nil {
			return rec, err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[json.RawMessage])
		if err != nil {
			return rec, err
		}
		if len(got) > 0 {
			rec.Tables[t] = got
		}
	}
	rows, err := tx.Query(ctx, `SELECT at, key_id, role, route, params, records FROM audit_log
		WHERE params::text LIKE '%' || $1 || '%' OR route LIKE '%' || $1 || '%' ORDER BY id`, uuid)
	if err != nil {
		return rec, err
	}
	rec.Audit, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.At, &e.KeyID, &e.Role, &e.Route, &e.Params, &e.Records)
		return e, err
	})
	return rec, err
}

// RetentionItem is a household past the retention period.
type RetentionItem struct {
	SurveyUUID  string
	VillageCode string
	LastContact time.Time
}

// RetentionDue lists the households whose last contact (the survey, or the
// start or end of a follow-up) is more than months before asOf, leaving out
// those under an open follow-up.
// A household is all its rounds: its last contact is its latest survey,
// follow-up or case visit, it is kept while it has an open case, and it is
// listed once (erasing one submission erases every round).
func (st *Store) RetentionDue(ctx context.Context, months int, asOf time.Time) ([]RetentionItem, error) {
	if months < 1 {
		return nil, risk.Errorf(risk.EINVALID, "retention of %d months: want at least 1", months)
	}
	rows, err := st.db.Pool.Query(ctx, `
		SELECT * FROM (SELECT DISTINCT ON (h.identity_id) h.survey_uuid, h.village_code, c.last
		FROM household h
		CROSS JOIN LATERAL (SELECT greatest(
			(SELECT max(coalesce(o.submitted_at, o.imported_at)) FROM household o WHERE o.identity_id = h.identity_id),
			(SELECT max(greatest(f.started_on, coalesce(f.ended_on, f.started_on)))::timestamptz FROM follow_up f WHERE f.household_id = h.id),
			(SELECT max(v.visited_on)::timestamptz FROM child_case k JOIN case_visit v ON v.case_id = k.id WHERE k.identity_id = h.identity_id)) AS last) c
		WHERE c.last < $1::timestamptz - make_interval(months => $2)
		  AND NOT EXISTS (SELECT 1 FROM follow_up f WHERE f.household_id = h.id AND f.ended_on IS NULL)
		  AND NOT EXISTS (SELECT 1 FROM child_case k WHERE k.identity_id = h.identity_id AND k.status NOT IN ('closed', 'lost'))
		ORDER BY h.identity_id, h.id) d ORDER BY last, survey_uuid`, asOf, months)
	if err != nil {
		return nil, core.Wrap(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RetentionItem, error) {
		var it RetentionItem
		err := r.Scan(&it.SurveyUUID, &it.VillageCode, &it.LastContact)
		return it, err
	})
}

// KeyReach is what one API key read in a period, and the households within
// its reach: the audit log records each read's parameters and number of
// records, not which households, so the households a leaked key may have
// reached are those its role and areas let it read (an upper bound).
type KeyReach struct {
	KeyID      int64
	Name       string
	Role       string
	Areas      []string
	Reads      int
	Records    int
	First      time.Time
	Last       time.Time
	Households []string // survey uuids within the key's areas (all, for admins and planners)
}

// AuditReads returns the household-level reads of a period, by key (keyID 0:
// every key), and with households the uuids each key could reach.
func (st *Store) AuditReads(ctx context.Context, from, to time.Time, keyID int64, households bool) ([]KeyReach, error) {
	rows, err := st.db.Pool.Query(ctx, `
		SELECT k.id, k.name, k.role, k.areas, count(*), sum(a.records), min(a.at), max(a.at)
		FROM audit_log a JOIN api_key k ON k.id = a.key_id
		WHERE a.at >= $1 AND a.at < $2 AND ($3 = 0 OR k.id = $3) AND a.route <> 'erase household'
		GROUP BY k.id ORDER BY k.id`, from, to, keyID)
	if err != nil {
		return nil, core.Wrap(err)
	}
	reach, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (KeyReach, error) {
		var k KeyReach
		err := r.Scan(&k.KeyID, &k.Name, &k.Role, &k.Areas, &k.Reads, &k.Records, &k.First, &k.Last)
		return k, err
	})
	if err != nil || !households {
		return reach, err
	}
	for i := range reach {
		k := &reach[i]
		var areas []string
		if k.Role == string(risk.RoleStaff) {
			areas = k.Areas
		}
		rows, err := st.db.Pool.Query(ctx, `SELECT survey_uuid FROM household h
			WHERE h.imported_at <= $1 AND ($2::text[] IS NULL OR EXISTS (
				SELECT 1 FROM unnest($2::text[]) a WHERE h.village_code = a OR h.village_code LIKE a || '.%'))
			ORDER BY survey_uuid`, k.Last, areas)
		if err != nil {
			return nil, err
		}
		if k.Households, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
	}
	return reach, nil
}

// PrepareRestore checks that the database at url is empty (no riskmap
// tables) and that the roles the backup grants to exist, so a restore
// neither mixes two databases nor fails half-way on a missing role.
func PrepareRestore(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return core.Wrap(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'spatial_ref_sys'`).Scan(&tables); err != nil {
		return core.Wrap(err)
	}
	if tables > 0 {
		return risk.Errorf(risk.ECONFLICT, "the target database is not empty (%d tables): restore into a new database (createdb NAME, then DATABASE_URL=.../NAME riskmap restore FILE)", tables)
	}
	_, err = conn.Exec(ctx, `DO $$
		BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
				CREATE ROLE riskmap_serve LOGIN; -- as migration 006 leaves it; its password is set as for any install
			END IF;
		END $$`)
	return core.Wrap(err)
}
