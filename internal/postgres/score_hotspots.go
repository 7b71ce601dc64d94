package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// hotspots computes Getis-Ord Gi* of the village scores (or of one month's
// seasonal scores) over queen contiguity, or a distance band when the model
// sets one. PostGIS finds the neighbours; the statistic and its permutations
// run in the domain package.
func hotspots(ctx context.Context, tx pgx.Tx, m *risk.Model, month int, out *[]HotspotRow) error {
	rows, err := tx.Query(ctx, `
		WITH scored AS (
			SELECT a.code, CASE WHEN $1 > 0 THEN a.monthly[$1] ELSE a.score END AS value, v.geom
			FROM area_public a JOIN village v ON v.code = a.code
			WHERE a.level = 'desa' AND a.score IS NOT NULL)
		SELECT s.code, s.value, coalesce(array_agg(n.code ORDER BY n.code) FILTER (WHERE n.code IS NOT NULL), '{}')
		FROM scored s LEFT JOIN scored n ON n.code <> s.code AND (
			CASE WHEN $2 > 0 THEN ST_DWithin(ST_PointOnSurface(s.geom)::geography, ST_PointOnSurface(n.geom)::geography, $2)
			     ELSE ST_Intersects(s.geom, n.geom) END)
		GROUP BY s.code, s.value ORDER BY s.code`, month, m.Hotspots.DistanceBandM)
	if err != nil {
		return err
	}
	var codes []string
	var values []float64
	var names [][]string
	for rows.Next() {
		var code string
		var value float64
		var nb []string
		if err := rows.Scan(&code, &value, &nb); err != nil {
			return err
		}
		codes, values, names = append(codes, code), append(values, value), append(names, nb)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	index := make(map[string]int, len(codes))
	for i, c := range codes {
		index[c] = i
	}
	neighbours := make([][]int, len(codes))
	counts := make([]int, len(codes))
	for i, nb := range names {
		for _, c := range nb {
			neighbours[i] = append(neighbours[i], index[c])
		}
		counts[i] = len(nb)
	}
	sig := [3]float64{m.Hotspots.Significance[0], m.Hotspots.Significance[1], m.Hotspots.Significance[2]}
	res := risk.GetisOrdGiStar(values, neighbours, m.Hotspots.Permutations, m.Hotspots.Seed, sig)
	zs, ps, classes := make([]float64, len(res)), make([]float64, len(res)), make([]string, len(res))
	for i, h := range res {
		zs[i], ps[i], classes[i] = h.Z, h.P, h.Class
	}
	if _, err := tx.Exec(ctx, `DELETE FROM hotspot`); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO hotspot (village_code, value, neighbours, z, p, class)
		SELECT * FROM unnest($1::text[], $2::float8[], $3::int[], $4::float8[], $5::float8[], $6::text[])`,
		codes, values, counts, zs, ps, classes)
	if out != nil {
		for i := range codes {
			*out = append(*out, HotspotRow{Code: codes[i], Value: values[i], Neighbours: counts[i], Hotspot: res[i]})
		}
	}
	return err
}

// HotspotRow is one village's hotspot result.
type HotspotRow struct {
	Code       string
	Value      float64
	Neighbours int
	risk.Hotspot
}

// Hotspots recomputes the hotspots alone from the current village scores,
// in its own transaction, and returns them in code order.
func (db *DB) Hotspots(ctx context.Context, m *risk.Model, month int) ([]HotspotRow, error) {
	var out []HotspotRow
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return hotspots(ctx, tx, m, month, &out) })
	return out, err
}
