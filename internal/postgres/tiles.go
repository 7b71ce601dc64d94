package postgres

import (
	"context"
	"math"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// TileLayers are the collections served as vector tiles, with the zooms at
// which they are worth drawing.
var TileLayers = map[string]struct{ MinZoom, MaxZoom int }{
	"kabupaten": {0, 14}, "kecamatan": {6, 14}, "villages": {7, 16}, "plantations": {11, 16}, "hotspots": {7, 16},
}

// TileFields returns the scalar properties a collection's tiles carry (MVT
// holds no arrays or objects), and whether it has a seasonal value.
func TileFields(c *Collection) []Property {
	var out []Property
	for _, p := range c.Properties {
		// The month's value travels as seasonal_score; per-month and
		// per-component columns are for GIS downloads, not for tiles.
		if monthField.MatchString(p.Name) || strings.HasPrefix(p.Name, "c_") {
			continue
		}
		switch p.Type {
		case "string", "integer", "number", "boolean":
			out = append(out, p)
		}
	}
	return out
}

var monthField = regexp.MustCompile(`^m[0-9][0-9]$`)

// TileSQL returns the query that builds one tile of collection c with
// ST_AsMVT over ST_AsMVTGeom in ST_TileEnvelope(z, x, y). Geometries are
// simplified to the tile's pixel size first, so a whole
// kabupaten at zoom 8 stays small (one pixel: 38 m at zoom 8). Arguments: $1 z, $2 x, $3 y, $4 month.
func TileSQL(c *Collection) string {
	geom := "ST_SimplifyPreserveTopology(ST_Transform(" + c.Geom + ", 3857), 40075016.686 / (4096 * 2 ^ $1::int))"
	if c.TileLayer != "" {
		geom = "tg.geom"
	}
	cols := []string{"ST_AsMVTGeom(" + geom + ", t.env, 4096, 64, true) AS geom",
		"(" + c.IDExpr + ")::text AS id"}
	// MVT values are typed: numeric would travel as a string.
	cast := map[string]string{"number": "::float8", "integer": "::int8"}
	for _, p := range TileFields(c) {
		cols = append(cols, "("+p.Expr+")"+cast[p.Type]+" AS "+pgx.Identifier{p.Name}.Sanitize())
	}
	if c.Month != "" {
		cols = append(cols, "CASE WHEN $4::int > 0 THEN ("+strings.ReplaceAll(c.Month, "$m", "greatest($4::int, 1)")+")::float8 END AS seasonal_score")
	}
	where := ""
	if c.Where != "" {
		where = " AND " + c.Where
	}
	if c.TileLayer != "" {
		// Tile-ready geometry (tile_geom): found by its own index in Web
		// Mercator, already simplified for the zoom band; the rows of the
		// collection are joined by key for their properties.
		return `WITH t AS (SELECT ST_TileEnvelope($1::int, $2::int, $3::int) AS env),
		f AS (SELECT ` + strings.Join(cols, ", ") + `
			FROM t, tile_geom tg, ` + c.From + `
			WHERE tg.code = (` + c.IDExpr + `) AND tg.layer = ` + quoteLiteral(c.TileLayer) + `
			  AND tg.band = tile_band(` + quoteLiteral(c.TileLayer) + `, $1::int) AND tg.geom && t.env AND $4::int >= 0` + where + `)
		SELECT coalesce(ST_AsMVT(f.*, ` + quoteLiteral(c.ID) + `, 4096, 'geom'), '') FROM f` // ST_AsMVT skips a geometry clipped away (NULL)
	}
	return `WITH t AS (SELECT ST_TileEnvelope($1::int, $2::int, $3::int) AS env),
		f AS (SELECT ` + strings.Join(cols, ", ") + `
			FROM ` + c.From + `, t
			WHERE ` + c.Geom + ` && ST_Transform(t.env, 4326) AND $4::int >= 0` + where + `)
		SELECT coalesce(ST_AsMVT(f.*, ` + quoteLiteral(c.ID) + `, 4096, 'geom'), '') FROM f WHERE f.geom IS NOT NULL`
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// CheckTile reports whether z/x/y lies in the Web Mercator tile matrix.
func CheckTile(z, x, y int) error {
	if z < 0 || z > 22 {
		return risk.Errorf(risk.EINVALID, "zoom %d: want 0..22", z)
	}
	n := 1 << z
	if x < 0 || x >= n || y < 0 || y >= n {
		return risk.Errorf(risk.EINVALID, "tile %d/%d/%d is outside the tile matrix: x and y must be 0..%d at zoom %d", z, x, y, n-1, z)
	}
	return nil
}

// Tile returns one Mapbox Vector Tile; an empty tile is empty bytes.
func (db *DB) Tile(ctx context.Context, c *Collection, z, x, y, month int) ([]byte, error) {
	if err := CheckTile(z, x, y); err != nil {
		return nil, err
	}
	var b []byte
	err := db.reader().QueryRow(ctx, TileSQL(c), z, x, y, month).Scan(&b)
	return b, wrapDB(err)
}

// LonLatToTile returns the tile at zoom z holding a point, for tests and
// benchmarks that pick tiles over the data.
func LonLatToTile(lon, lat float64, z int) (x, y int) {
	n := math.Exp2(float64(z))
	x = int((lon + 180) / 360 * n)
	r := lat * math.Pi / 180
	y = int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
	return x, y
}
