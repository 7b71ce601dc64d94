package scoring

import (
	"context"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// hotspots computes Getis-Ord Gi* and local Moran's I of the villages'
// published scores (or of one month's seasonal scores) over queen
// contiguity as libpysal defines it (villages that share a vertex, within
// the model's tolerance), or a distance band when the model sets one.
// PostGIS finds the neighbours; the statistics and their permutations run
// in the domain package. Villages with no neighbour are not tested.
func hotspots(ctx context.Context, tx pgx.Tx, m *risk.Model, month int, out *[]HotspotRow) error {
	if err := neighbourTable(ctx, tx, m, `SELECT code FROM area_public WHERE level = 'desa' AND score IS NOT NULL`); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `
		SELECT a.code, CASE WHEN $1 > 0 THEN a.monthly[$1] ELSE a.score END AS value, coalesce(n.bs, '{}')
		FROM area_public a
		LEFT JOIN (SELECT n.a, array_agg(n.b ORDER BY n.b) AS bs FROM village_neighbour n GROUP BY n.a) n ON n.a = a.code
		WHERE a.level = 'desa' AND a.score IS NOT NULL
		ORDER BY a.code`, month)
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
	moran := risk.LocalMoranI(values, neighbours, m.Hotspots.Permutations, m.Hotspots.Seed, sig[1])
	zs, ps, classes := make([]float64, len(res)), make([]float64, len(res)), make([]string, len(res))
	fdr, mi, mp, mc := make([]string, len(res)), make([]float64, len(res)), make([]float64, len(res)), make([]string, len(res))
	for i, h := range res {
		zs[i], ps[i], classes[i], fdr[i] = h.Z, h.P, h.Class, h.ClassFDR
		mi[i], mp[i], mc[i] = moran[i].I, moran[i].P, moran[i].Class
	}
	if _, err := tx.Exec(ctx, `DELETE FROM hotspot`); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO hotspot (village_code, value, neighbours, z, p, class, class_fdr, moran_i, moran_p, moran_class)
		SELECT * FROM unnest($1::text[], $2::float8[], $3::int[], $4::float8[], $5::float8[], $6::text[], $7::text[],
			$8::float8[], $9::float8[], $10::text[])`,
		codes, values, counts, zs, ps, classes, fdr, mi, mp, mc)
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
func (st *Store) Hotspots(ctx context.Context, m *risk.Model, month int) ([]HotspotRow, error) {
	var out []HotspotRow
	err := pgx.BeginFunc(ctx, st.db.Pool, func(tx pgx.Tx) error { return hotspots(ctx, tx, m, month, &out) })
	return out, err
}

// neighbourTable fills the temporary table village_neighbour (a, b) with
// the neighbouring pairs among the villages the query selects: queen
// contiguity as libpysal's Queen computes it, villages sharing at least
// one vertex, with vertices matched on a grid of the model's tolerance
// (0: exactly; ST_Intersects would also pair shapes that merely overlap),
// or, when the model sets a distance band, villages whose interior points
// lie within it.
func neighbourTable(ctx context.Context, tx pgx.Tx, m *risk.Model, villages string) error {
	// One metre is about 1/111320 degree here; 1e-9 degree (0.1 mm) is
	// "exactly" for coordinates given to 7 decimals.
	grid := math.Max(m.Hotspots.ContiguityToleranceM/111320, 1e-9)
	var sql string
	if m.Hotspots.DistanceBandM > 0 {
		sql = `CREATE TEMP TABLE village_neighbour ON COMMIT DROP AS
			WITH v AS (SELECT g.code, ST_PointOnSurface(g.geom)::geography AS p FROM village g WHERE g.code IN (` + villages + `))
			SELECT a.code AS a, b.code AS b FROM v a JOIN v b ON a.code <> b.code AND ST_DWithin(a.p, b.p, @band)`
	} else {
		// The pairs of every village are kept per grid (migration 018)
		// until the boundaries change; the villages asked for take theirs.
		if err := contiguity(ctx, tx, grid); err != nil {
			return err
		}
		sql = `CREATE TEMP TABLE village_neighbour ON COMMIT DROP AS
			SELECT c.a, c.b FROM village_contiguity c
			WHERE c.grid = @grid AND c.a IN (` + villages + `) AND c.b IN (` + villages + `)`
	}
	_, err := tx.Exec(ctx, `DROP TABLE IF EXISTS village_neighbour`)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, sql, pgx.NamedArgs{"grid": grid, "band": m.Hotspots.DistanceBandM})
	return err
}

// contiguity makes sure village_contiguity holds every pair of villages
// that share a vertex on the grid (degrees): kept from an earlier run when
// no village has changed since (a trigger empties it when one does), else
// found again for every village.
func contiguity(ctx context.Context, tx pgx.Tx, grid float64) error {
	// One run at a time finds the pairs; another waits and finds them kept.
	if _, err := tx.Exec(ctx, `LOCK TABLE village_contiguity_grid IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return err
	}
	var kept bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM village_contiguity_grid WHERE grid = $1)`, grid).Scan(&kept); err != nil || kept {
		return err
	}
	return execAll(ctx, tx, []statement{
		{`INSERT INTO village_contiguity_grid (grid) VALUES ($1)`, []any{grid}},
		{`INSERT INTO village_contiguity (grid, a, b)
			WITH pts AS (
				SELECT DISTINCT g.code, round(ST_X(d.geom) / $1)::bigint AS x, round(ST_Y(d.geom) / $1)::bigint AS y
				FROM village g, ST_DumpPoints(g.geom) d)
			SELECT DISTINCT $1::float8, a.code, b.code FROM pts a JOIN pts b ON a.x = b.x AND a.y = b.y AND a.code <> b.code`, []any{grid}},
	})
}

// QueenNeighbours returns every village's neighbours by the model's
// contiguity rule, for tests and diagnostics.
func (st *Store) QueenNeighbours(ctx context.Context, m *risk.Model) (map[string][]string, error) {
	out := map[string][]string{}
	err := pgx.BeginFunc(ctx, st.db.Pool, func(tx pgx.Tx) error {
		if err := neighbourTable(ctx, tx, m, `SELECT code FROM village`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT v.code, coalesce(array_agg(n.b ORDER BY n.b) FILTER (WHERE n.b IS NOT NULL), '{}')
			FROM village v LEFT JOIN village_neighbour n ON n.a = v.code GROUP BY v.code`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c string
			var nb []string
			if err := rows.Scan(&c, &nb); err != nil {
				return err
			}
			out[c] = nb
		}
		return rows.Err()
	})
	return out, err
}
