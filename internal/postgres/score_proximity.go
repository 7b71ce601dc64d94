package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// nearFields finds, for every household within the model's radius of a
// tobacco field, the nearest field and its distance. Distances are planar in
// the model's metric CRS; fields drive the join through a GiST index on the
// households' projected points, which are stored in spatial order.
func nearFields(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	srid, radius := m.Household.ProjectedSRID, m.Household.ProximityRadiusM
	err := execAll(ctx, tx, []statement{
		{`CREATE TEMP TABLE field_p ON COMMIT DROP AS SELECT id, variety, ST_Transform(geom, $1::int) AS g FROM plantation`, []any{srid}},
		{`CREATE TEMP TABLE household_p ON COMMIT DROP AS SELECT id, ST_Transform(geom, $1::int) AS g FROM household ORDER BY geom`, []any{srid}},
		{`CREATE INDEX ON household_p USING gist (g)`, nil},
		{`CREATE TEMP TABLE household_near ON COMMIT DROP AS
			SELECT DISTINCT ON (h.id) h.id, f.variety, ST_Distance(f.g, h.g) AS d
			FROM field_p f CROSS JOIN LATERAL (
				SELECT h.id, h.g FROM household_p h WHERE ST_DWithin(f.g, h.g, $1::float8) OFFSET 0) h
			ORDER BY h.id, ST_Distance(f.g, h.g), f.id`, []any{radius}},
		{`CREATE INDEX ON household_near (id)`, nil},
	})
	if err != nil {
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
