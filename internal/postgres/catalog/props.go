package catalog

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/postgres/core"
)

// Tile properties written ahead (tile_props, migration 023): every area's
// tile properties at full detail, rounded and cast, kept by type in arrays
// in TileFields order, with the month's seasonal score for each month. A
// deep tile of an area layer is then its pieces and one join by key
// (PropsTileSQL), not a join to the area, its figures, its kecamatan and
// its hotspot with every property computed per piece.

// propsType is the array of tile_props a property of type typ is kept in,
// with the cast that gives the tile its MVT value type.
var propsType = map[string]struct{ column, cast string }{
	"string": {"t", "::text"}, "number": {"f", "::float8"}, "integer": {"i", "::int8"}, "boolean": {"b", "::boolean"},
}

// HasTileProps reports whether collection c's tile properties are written
// ahead: the area layers whose low zooms are rendered (RenderedLayers),
// whose properties read no query parameter but the month.
func HasTileProps(c *Collection) bool {
	if c.TileLayer == "" || strings.Contains(c.IDExpr, "$") {
		return false
	}
	for _, p := range TileFields(c) {
		if strings.Contains(p.Expr, "$") {
			return false
		}
	}
	return slices.Contains(RenderedLayers, c.ID)
}

// propsBuildSQL selects every area of c with its tile properties, in the
// row shape of tile_props ($1: the collection's id), in code order.
func propsBuildSQL(c *Collection) string {
	arrays := map[string][]string{}
	for _, p := range TileFields(c) {
		pt := propsType[p.Type]
		arrays[pt.column] = append(arrays[pt.column], "("+p.Expr+")"+pt.cast)
	}
	cols := []string{"$1::text", "(" + c.IDExpr + ")::text"}
	for _, a := range []struct{ column, elem string }{{"t", "text"}, {"f", "float8"}, {"i", "int8"}, {"b", "boolean"}} {
		cols = append(cols, "ARRAY["+strings.Join(arrays[a.column], ", ")+"]::"+a.elem+"[]")
	}
	month := "NULL::float8[]"
	if c.Month != "" {
		month = "ARRAY(SELECT (" + strings.ReplaceAll(c.Month, "$m", "mm.m") + ")::float8 FROM generate_series(1, 12) AS mm(m) ORDER BY mm.m)"
	}
	cols = append(cols, month)
	// In code order: an area's neighbours have the codes next to its, so a
	// tile's areas lie on fewer pages (the country's village tiles of zoom
	// 11, caches dropped: 339 pages of properties for 40 tiles, 385 in the
	// areas' heap order).
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + c.From + " WHERE true" + tileWhere(c) + " ORDER BY 2"
}

// PropsTileSQL is PieceTileSQL reading the properties written ahead:
// arguments $1 z, $2 x, $3 y, $4 month, $5 the collection's Recipe. It
// returns two columns: whether the properties are current (their
// generation is map_state's in this statement's snapshot, and their recipe
// $5) and, only then, the tile: the same bytes PieceTileSQL builds, its
// features in the same (code) order.
func PropsTileSQL(c *Collection) string {
	props := []string{"p.code AS id"}
	n := map[string]int{}
	for _, p := range TileFields(c) {
		pt := propsType[p.Type]
		n[pt.column]++
		expr := "p." + pt.column + "[" + strconv.Itoa(n[pt.column]) + "]"
		if p.TileZoom > 0 {
			expr = fmt.Sprintf("CASE WHEN $1::int >= %d THEN %s END", p.TileZoom, expr)
		}
		props = append(props, expr+" AS "+pgx.Identifier{p.Name}.Sanitize())
	}
	if c.Month != "" {
		props = append(props, "CASE WHEN $4::int > 0 THEN p.m[greatest($4::int, 1)] END AS seasonal_score")
	}
	layer, id := quoteLiteral(c.TileLayer), quoteLiteral(c.ID)
	return `WITH ok AS (SELECT EXISTS (SELECT 1 FROM tile_props_state s, map_state g
			WHERE s.collection = ` + id + ` AND s.generation = g.generation AND s.recipe = $5::text) AS ok)
		SELECT ok.ok, CASE WHEN ok.ok THEN (
			SELECT coalesce(ST_AsMVT(f.*, ` + id + `, 4096, 'geom'), '') FROM (
				SELECT tp.geom AS geom, ` + strings.Join(props, ", ") + `
				FROM tile_piece tp JOIN tile_props p ON p.collection = ` + id + ` AND p.code = tp.code
				WHERE tile_cut(` + layer + `, $1::int) AND tp.layer = ` + layer + ` AND tp.z = $1::int AND tp.x = $2::int AND tp.y = $3::int
				  AND $4::int >= 0
				ORDER BY tp.code) f) END
		FROM ok`
}

// PropsStats says what WriteTileProps did.
type PropsStats struct {
	Areas      int     // rows written
	Generation int64   // the map generation they were read at
	Seconds    float64 // wall time
}

// WriteTileProps writes the tile properties of every collection that has
// them (HasTileProps), in one repeatable-read transaction: the rows and
// the generation they are tagged with come from one snapshot, so a commit
// that changes an area, a published figure or a hotspot during the
// writing leaves them tagged with a generation the service no longer
// uses.
func (st *Store) WriteTileProps(ctx context.Context) (PropsStats, error) {
	start := time.Now()
	var stats PropsStats
	tx, err := st.db.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return stats, core.Wrap(err)
	}
	defer tx.Rollback(ctx)
	// One writer at a time (two renders at once would fail each other's
	// repeatable-read writes), locked before the snapshot is taken.
	if _, err := tx.Exec(ctx, `LOCK TABLE tile_props IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return stats, core.Wrap(err)
	}
	if err := tx.QueryRow(ctx, `SELECT generation FROM map_state`).Scan(&stats.Generation); err != nil {
		return stats, core.Wrap(err)
	}
	for _, c := range Collections() {
		if !HasTileProps(c) {
			continue
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tile_props WHERE collection = $1`, c.ID); err != nil {
			return stats, core.Wrap(err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO tile_props (collection, code, t, f, i, b, m) `+propsBuildSQL(c), c.ID)
		if err != nil {
			return stats, fmt.Errorf("tile properties of %s: %w", c.ID, core.Wrap(err))
		}
		stats.Areas += int(tag.RowsAffected())
		if _, err := tx.Exec(ctx, `INSERT INTO tile_props_state (collection, generation, recipe) VALUES ($1, $2, $3)
			ON CONFLICT (collection) DO UPDATE SET generation = excluded.generation, recipe = excluded.recipe`,
			c.ID, stats.Generation, Recipe(c)); err != nil {
			return stats, core.Wrap(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return stats, core.Wrap(err)
	}
	stats.Seconds = time.Since(start).Seconds()
	return stats, nil
}
