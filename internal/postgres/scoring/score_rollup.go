package scoring

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// rollUp aggregates villages to kecamatan, then kecamatan to kabupaten:
// counts add up, rates are recomputed from the sums, scores and curves are
// averaged over villages weighted by surveyed households.
func rollUp(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	for _, lv := range []struct{ level, from, parent string }{
		{"kecamatan", "desa", "left(a.parent_code, 5)"},
		{"kabupaten", "kecamatan", "NULL::text"},
	} {
		// Identifiers come from the constant list above, never from input.
		_, err := tx.Exec(ctx, `
			INSERT INTO area_score (level, code, parent_code, households, children, hazardous, child_labour, light_work,
				not_working, prevalence, prevalence_smoothed, mean_household_score, max_household_score, tobacco_share,
				farm_labourer_share, poverty_share, score, tier, monthly, labourer_households, poor_households)
			SELECT $1, g.code, g.parent, g.households, g.children, g.hazardous, g.child_labour, g.light_work, g.not_working,
				(g.hazardous + g.child_labour)::float8 / nullif(g.children, 0), NULL, g.mean_score, g.max_score,
				g.tobacco_share, g.labourer_share, g.poverty_share, g.score,
				CASE WHEN g.households = 0 THEN 'no_data' WHEN g.score >= $4 THEN 'high' WHEN g.score >= $3 THEN 'medium' ELSE 'low' END,
				mo.monthly, g.labourers, g.poor
			FROM (
				SELECT a.parent_code AS code, `+lv.parent+` AS parent, sum(a.households)::int AS households,
					sum(a.children)::int AS children, sum(a.hazardous)::int AS hazardous, sum(a.child_labour)::int AS child_labour,
					sum(a.light_work)::int AS light_work, sum(a.not_working)::int AS not_working,
					sum(a.labourer_households)::int AS labourers, sum(a.poor_households)::int AS poor,
					sum(a.mean_household_score * a.households) / nullif(sum(a.households), 0) AS mean_score,
					max(a.max_household_score) AS max_score,
					sum(a.tobacco_share * v.area) / nullif(sum(v.area), 0) AS tobacco_share,
					sum(a.farm_labourer_share * a.households) / nullif(sum(a.households), 0) AS labourer_share,
					sum(a.poverty_share * a.households) / nullif(sum(a.households), 0) AS poverty_share,
					sum(a.score * a.households) / nullif(sum(a.households), 0) AS score
				FROM area_score a
				CROSS JOIN LATERAL (SELECT CASE WHEN $2 = 'desa'
					THEN (SELECT area_m2 FROM village WHERE code = a.code)
					ELSE (SELECT ST_Area(geom::geography) FROM kecamatan WHERE code = a.code) END AS area) v
				WHERE a.level = $2
				GROUP BY a.parent_code) g
			-- The curve: each month's score averaged over the area's villages
			-- (or kecamatan), weighted by households, for every area in one
			-- pass (a lookup of each area's rows by parent was a scan of
			-- every village per kecamatan: minutes at national size).
			LEFT JOIN (
				SELECT mm.parent_code, array_agg(mm.v ORDER BY mm.i) AS monthly FROM (
					SELECT b.parent_code, u.i, round((sum(u.x * b.households) / nullif(sum(b.households), 0))::numeric, 2)::real AS v
					FROM area_score b, unnest(b.monthly) WITH ORDINALITY u(x, i)
					WHERE b.level = $2 GROUP BY b.parent_code, u.i) mm
				GROUP BY mm.parent_code) mo ON mo.parent_code = g.code`,
			lv.level, lv.from, m.Tiers.Medium, m.Tiers.High)
		if err != nil {
			return fmt.Errorf("%s: %w", lv.level, err)
		}
	}
	return nil
}
