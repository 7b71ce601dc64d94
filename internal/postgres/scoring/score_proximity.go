package scoring

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// nearFields finds, for every household within the model's radius of a
// tobacco field, the nearest field's variety and distance (household_near;
// d is null for a household with no field in reach). Distances are planar
// in the model's metric CRS; fields drive the join through a GiST index on
// the households' projected points, stored in spatial order. The result
// depends only on the points, the fields, the radius and the CRS, so it is
// kept between runs: all of it is found again when the fields or those
// settings change (proximity_state), else only for households that are new
// or have moved (digest). With 125,000 fields every household has a dozen
// within 500 m, and the exact distances cost a minute at 1,000,000. A run
// that is not full (scope) looks only at the households in its scope: the
// fields and the model are those of the previous run (a change to either
// makes a run full), and a household that moved or arrived is in it.
func nearFields(ctx context.Context, tx pgx.Tx, m *risk.Model, sc *scope) error {
	srid, radius := m.Household.ProjectedSRID, m.Household.ProximityRadiusM
	if !sc.full {
		if err := execAll(ctx, tx, []statement{
			{`CREATE TEMP TABLE near_src ON COMMIT DROP AS
				SELECT h.id, h.geom, md5(encode(ST_AsEWKB(h.geom), 'hex')) AS digest FROM household h JOIN scope_household x ON x.id = h.id`, nil},
			{`DELETE FROM household_near n USING scope_household x WHERE n.household_id = x.id AND NOT EXISTS (
				SELECT 1 FROM near_src s WHERE s.id = n.household_id AND s.digest = n.digest)`, nil},
		}); err != nil {
			return err
		}
		return locateNear(ctx, tx, m, srid, radius)
	}
	var state string
	err := tx.QueryRow(ctx, `SELECT md5(coalesce(string_agg(md5(id || '|' || variety || '|' || encode(ST_AsEWKB(geom), 'hex')), ',' ORDER BY id), '')
		|| '|' || $1::int || '|' || $2::float8) FROM plantation`, srid, radius).Scan(&state)
	if err != nil {
		return err
	}
	var previous string
	if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT key FROM proximity_state), '')`).Scan(&previous); err != nil {
		return err
	}
	steps := []statement{}
	if previous != state {
		steps = append(steps, statement{`TRUNCATE household_near`, nil},
			statement{`INSERT INTO proximity_state (key) VALUES ($1) ON CONFLICT (one) DO UPDATE SET key = excluded.key`, []any{state}})
	}
	steps = append(steps,
		statement{`CREATE TEMP TABLE near_src ON COMMIT DROP AS
			SELECT id, geom, md5(encode(ST_AsEWKB(geom), 'hex')) AS digest FROM household`, nil},
		statement{`DELETE FROM household_near n WHERE NOT EXISTS (
			SELECT 1 FROM near_src s WHERE s.id = n.household_id AND s.digest = n.digest)`, nil})
	if err := execAll(ctx, tx, steps); err != nil {
		return err
	}
	return locateNear(ctx, tx, m, srid, radius)
}

// locateNear finds the nearest field of every household of near_src
// without a row in household_near, then makes the run's village varieties
// and calendars.
func locateNear(ctx context.Context, tx pgx.Tx, m *risk.Model, srid int, radius float64) error {
	steps := []statement{
		{`CREATE TEMP TABLE field_p ON COMMIT DROP AS SELECT id, variety, ST_Transform(geom, $1::int) AS g FROM plantation`, []any{srid}},
		{`CREATE TEMP TABLE household_p ON COMMIT DROP AS
			SELECT s.id, s.digest, ST_Transform(s.geom, $1::int) AS g FROM near_src s
			WHERE NOT EXISTS (SELECT 1 FROM household_near n WHERE n.household_id = s.id)
			ORDER BY s.geom`, []any{srid}},
		{`CREATE INDEX ON household_p USING gist (g)`, nil},
		{`INSERT INTO household_near (household_id, variety, d, digest)
			SELECT h.id, n.variety, n.d, h.digest FROM household_p h LEFT JOIN (
				SELECT DISTINCT ON (h.id) h.id, f.variety, ST_Distance(f.g, h.g) AS d
				FROM field_p f CROSS JOIN LATERAL (
					SELECT h.id, h.g FROM household_p h WHERE ST_DWithin(f.g, h.g, $1::float8) OFFSET 0) h
				ORDER BY h.id, ST_Distance(f.g, h.g), f.id) n USING (id)`, []any{radius}},
	}
	if err := execAll(ctx, tx, steps); err != nil {
		return err
	}
	vv, err := villageVarieties(ctx, tx, m)
	if err != nil {
		return err
	}
	codes, varieties := make([]string, 0, len(vv)), make([]string, 0, len(vv))
	for c, v := range vv {
		codes, varieties = append(codes, c), append(varieties, v)
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE village_variety ON COMMIT DROP AS
		SELECT * FROM unnest($1::text[], $2::text[]) AS u(village_code, variety)`, codes, varieties); err != nil {
		return err
	}
	// The model's calendars first; imported calendars fill in other varieties.
	cal, err := json.Marshal(m.Calendar)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		CREATE TEMP TABLE calendar ON COMMIT DROP AS
		SELECT key AS variety, array(SELECT x::float8 FROM jsonb_array_elements_text(value) x) AS idx
		FROM jsonb_each($1::jsonb)
		UNION ALL
		SELECT variety, array_agg(labour_index::float8 ORDER BY month) FROM labour_calendar
		WHERE NOT ($1::jsonb ? variety) GROUP BY variety HAVING count(*) = 12`, cal)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DELETE FROM score_calendar;
		INSERT INTO score_calendar (variety, labour_index) SELECT variety, idx::real[] FROM calendar`)
	return err
}

// villageVarieties gives every village the variety whose calendar drives
// its season: the variety covering most of its tobacco fields' area, else
// the model's variety for its area (risk.Model.VarietyOf), so that villages
// dominated by different varieties (Paiton Voor-Oogst in Probolinggo,
// Besuki Na-Oogst in south Jember) peak in different months.
func villageVarieties(ctx context.Context, tx pgx.Tx, m *risk.Model) (map[string]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT v.code, f.variety FROM village v LEFT JOIN (
			SELECT DISTINCT ON (village_code) village_code, variety
			FROM plantation WHERE village_code IS NOT NULL
			GROUP BY village_code, variety
			ORDER BY village_code, sum(area_m2) DESC, variety) f ON f.village_code = v.code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var code string
		var variety *string
		if err := rows.Scan(&code, &variety); err != nil {
			return nil, err
		}
		if variety != nil {
			out[code] = *variety
		} else {
			out[code] = m.VarietyOf(code)
		}
	}
	return out, rows.Err()
}
