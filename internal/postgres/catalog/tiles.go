package catalog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// TileLayers are the collections served as vector tiles, with the zooms at
// which they are worth drawing. A tile under a layer's MinZoom is empty:
// under zoom 8 a village is a pixel or two wide, thousands of them turn a
// map grey and make a tile of megabytes at national size; the kecamatan
// and kabupaten layers colour the map there.
var TileLayers = map[string]struct{ MinZoom, MaxZoom int }{
	"kabupaten": {0, 14}, "kecamatan": {6, 14}, "villages": {8, 16}, "plantations": {11, 16}, "hotspots": {8, 16},
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
// ST_AsMVT over ST_AsMVTGeom in ST_TileEnvelope(z, x, y). Arguments: $1 z,
// $2 x, $3 y, $4 month.
//
// A collection with tile-ready geometry (TileLayer) reads, for the zooms
// its layer is cut at (tile_cut, migration 013), the pieces cut in advance
// (tile_piece), and otherwise its band's geometry (tile_geom), clipped on
// request; the choice is a one-time filter on $1, so one generic plan
// serves every zoom. Other collections are simplified to the tile's pixel
// size on request.
func TileSQL(c *Collection) string { return tileSQL(c, true) }

// UncutTileSQL is TileSQL clipping every tile on request from tile_geom:
// what a tile costs without the pieces, and what the pieces must equal.
func UncutTileSQL(c *Collection) string { return tileSQL(c, false) }

// PieceTileSQL is TileSQL's first half alone, for a zoom the layer is cut
// at (TileCut): the tile's pieces joined to their areas' figures. It is
// what the service runs for such a tile, without the planning and start-up
// of TileSQL's other half, which a cut zoom never runs (a fifth of a deep
// tile's time in the database). Its one-time filter on tile_cut stays: a
// zoom that is not cut gets an empty tile, never a wrong one, and
// TestTileCutMatchesSQL keeps TileCut and tile_cut in step.
func PieceTileSQL(c *Collection) string {
	if c.TileLayer == "" {
		return TileSQL(c)
	}
	// In code order: the order of the key's index, so no sort, and the
	// order PropsTileSQL gives the same features in.
	return wrapTile(c, pieceBody(c, tileProps(c))+`
			ORDER BY tp.code`)
}

// TileCut reports whether the tiles of layer (a TileLayer) at zoom z are
// cut in advance into tile_piece: tile_cut (migrations 013 and 017), in Go.
func TileCut(layer string, z int) bool {
	first, ok := map[string]int{"kabupaten": 0, "kecamatan": 6, "desa": 8}[layer]
	return ok && z >= first && z <= 14
}

// tileSQLFor is the query Tile runs for zoom z of c: PieceTileSQL where the
// layer is cut, TileSQL elsewhere; built once per collection and process.
func tileSQLFor(c *Collection, z int) string {
	cut := c.TileLayer != "" && TileCut(c.TileLayer, z)
	key := c.ID + "|" + strconv.FormatBool(cut)
	if q, ok := tileSQLs.Load(key); ok {
		return q.(string)
	}
	q := TileSQL(c)
	if cut {
		q = PieceTileSQL(c)
	}
	tileSQLs.Store(key, q)
	return q
}

// tileSQLs keeps tileSQLFor's and propsSQL's queries (see recipes).
var tileSQLs sync.Map

// propsSQL is PropsTileSQL, built once per collection and process.
func propsSQL(c *Collection) string {
	key := c.ID + "|props"
	if q, ok := tileSQLs.Load(key); ok {
		return q.(string)
	}
	q := PropsTileSQL(c)
	tileSQLs.Store(key, q)
	return q
}

// tileProps are the select list of c's tile features, after the geometry.
func tileProps(c *Collection) []string {
	props := []string{"(" + c.IDExpr + ")::text AS id"}
	// MVT values are typed: numeric would travel as a string.
	cast := map[string]string{"number": "::float8", "integer": "::int8"}
	for _, p := range TileFields(c) {
		expr := "(" + p.Expr + ")" + cast[p.Type]
		if p.TileZoom > 0 {
			// ST_AsMVT leaves a null value out of the feature.
			expr = fmt.Sprintf("CASE WHEN $1::int >= %d THEN %s END", p.TileZoom, expr)
		}
		props = append(props, expr+" AS "+pgx.Identifier{p.Name}.Sanitize())
	}
	if c.Month != "" {
		props = append(props, "CASE WHEN $4::int > 0 THEN ("+strings.ReplaceAll(c.Month, "$m", "greatest($4::int, 1)")+")::float8 END AS seasonal_score")
	}
	return props
}

func selectTile(geom string, props []string) string {
	return "SELECT " + geom + " AS geom, " + strings.Join(props, ", ")
}

func tileWhere(c *Collection) string {
	if c.Where != "" {
		return " AND " + c.Where
	}
	return ""
}

// pieceBody selects the pieces of tile $1/$2/$3 of a cut layer.
func pieceBody(c *Collection, props []string) string {
	layer := quoteLiteral(c.TileLayer)
	return selectTile("tp.geom", props) + `
			FROM tile_piece tp, ` + c.From + `
			WHERE tile_cut(` + layer + `, $1::int) AND tp.layer = ` + layer + ` AND tp.z = $1::int AND tp.x = $2::int AND tp.y = $3::int
			  AND tp.code = (` + c.IDExpr + `) AND $4::int >= 0` + tileWhere(c)
}

// wrapTile encodes the features body selects (t: the tile's envelope and
// its buffered box).
func wrapTile(c *Collection, body string) string {
	// The envelope grown by the 64-unit buffer ST_AsMVTGeom keeps: an
	// area just outside the tile still draws its edge along the tile's.
	return `WITH t AS (SELECT env, ST_Expand(env, (ST_XMax(env) - ST_XMin(env)) * 64 / 4096) AS buffered
			FROM ST_TileEnvelope($1::int, $2::int, $3::int) AS env),
		f AS (` + body + `)
		SELECT coalesce(ST_AsMVT(f.*, ` + quoteLiteral(c.ID) + `, 4096, 'geom'), '') FROM f` // ST_AsMVT skips a geometry clipped away (NULL)
}

func tileSQL(c *Collection, cut bool) string {
	props := tileProps(c)
	where := tileWhere(c)
	if c.TileLayer != "" {
		layer := quoteLiteral(c.TileLayer)
		// Tile-ready geometry (tile_geom): found by its own index in Web
		// Mercator, already simplified for the zoom band; the rows of the
		// collection are joined by key for their properties.
		uncut := selectTile("ST_AsMVTGeom(tg.geom, t.env, 4096, 64, true)", props) + `
			FROM t, tile_geom tg, ` + c.From + `
			WHERE tg.code = (` + c.IDExpr + `) AND tg.layer = ` + layer + `
			  AND tg.band = tile_band(` + layer + `, $1::int) AND tg.geom && t.buffered AND $4::int >= 0` + where
		body := uncut
		if cut {
			body = pieceBody(c, props) + `
			UNION ALL
			` + uncut + ` AND NOT tile_cut(` + layer + `, $1::int)`
		}
		return wrapTile(c, body)
	}
	geom := "ST_AsMVTGeom(ST_SimplifyPreserveTopology(ST_Transform(" + c.Geom + ", 3857), 40075016.686 / (4096 * 2 ^ $1::int)), t.env, 4096, 64, true)"
	return `WITH t AS (SELECT ST_TileEnvelope($1::int, $2::int, $3::int) AS env),
		f AS (` + selectTile(geom, props) + `
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
func (st *Store) Tile(ctx context.Context, c *Collection, z, x, y, month int) ([]byte, error) {
	b, _, err := st.TileAt(ctx, c, z, x, y, month, Where{})
	return b, err
}

// TileAt is Tile reading a cut tile's pieces where at says (the layer's
// PieceSet), if at is current; moved reports that it was not, and the
// caller's PieceSet should be read again.
func (st *Store) TileAt(ctx context.Context, c *Collection, z, x, y, month int, at Where) (b []byte, moved bool, err error) {
	if err := CheckTile(z, x, y); err != nil {
		return nil, false, err
	}
	if l, ok := TileLayers[c.ID]; ok && z < l.MinZoom {
		return nil, false, nil
	}
	// A cut zoom of an area layer reads the properties written ahead
	// (PropsTileSQL) while they are current; otherwise, or before they
	// are first written, the tile is built from the areas' tables.
	if HasTileProps(c) && TileCut(c.TileLayer, z) {
		// An interior tile needs no query at all: its one piece is the
		// tile's square, and its area's properties are in memory, of the
		// generation of the data version the caller serves.
		p := st.mem.get(st, c, 0)
		if p != nil && at.Inner != "" && p.Generation == at.Generation {
			if b, err := p.InteriorTile(at.Inner, z, month); err == nil {
				return b, false, nil
			}
		}
		// Otherwise the pieces alone, with the properties in memory
		// (memTile), when those are of the generation the statement reads.
		b, ok, moved, err := st.memTile(ctx, c, p, z, x, y, month, at)
		if err != nil || ok {
			return b, moved, err
		}
		var current bool
		err = st.db.TileReader().QueryRow(ctx, propsSQL(c), z, x, y, month, Recipe(c)).Scan(&current, &b)
		if err != nil || current {
			return b, moved, core.Wrap(err)
		}
	}
	err = st.db.TileReader().QueryRow(ctx, tileSQLFor(c, z), z, x, y, month).Scan(&b)
	return b, false, core.Wrap(err)
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

// CoverageZoom is the zoom of a layer's coverage (TileCoverage): a tile of
// this zoom or deeper is empty when its ancestor at this zoom is not
// covered; a shallower tile when none of its descendants here is.
const CoverageZoom = 10

// TileCoverage returns the tiles of zoom CoverageZoom whose buffered box
// meets the bounding box of some area of a tile layer (desa, kecamatan,
// kabupaten), as z10 x<<16 | y keys. It is computed from the areas' boxes
// with the same buffer a tile keeps, grown by a z10 tile's buffer, so a
// tile outside the coverage holds nothing at any zoom: the service answers
// it without a query (most tiles of a country's map are sea).
func (st *Store) TileCoverage(ctx context.Context, layer string) (map[uint32]struct{}, error) {
	done, err := st.warmTurn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	rows, err := st.db.TileReader().Query(ctx, `
		SELECT DISTINCT tx, ty
		FROM tile_geom tg,
			LATERAL (SELECT box2d(tg.geom) AS b, 40075016.68557849 / 1024 AS w, 20037508.342789244 AS o) e,
			LATERAL generate_series(greatest(0, floor((ST_XMin(e.b) + e.o) / e.w - 129.0 / 4096)::int),
			                        least(1023, floor((ST_XMax(e.b) + e.o) / e.w + 129.0 / 4096)::int)) AS tx,
			LATERAL generate_series(greatest(0, floor((e.o - ST_YMax(e.b)) / e.w - 129.0 / 4096)::int),
			                        least(1023, floor((e.o - ST_YMin(e.b)) / e.w + 129.0 / 4096)::int)) AS ty
		WHERE tg.layer = $1 AND tg.band = 99`, layer)
	if err != nil {
		return nil, core.Wrap(err)
	}
	defer rows.Close()
	out := map[uint32]struct{}{}
	for rows.Next() {
		var x, y int32
		if err := rows.Scan(&x, &y); err != nil {
			return nil, err
		}
		out[uint32(x)<<16|uint32(y)] = struct{}{}
	}
	return out, core.Wrap(rows.Err())
}

// Coverage is a layer's coverage (TileCoverage) at every zoom down to 0,
// so that whether a tile is covered is one lookup at every zoom; with the
// layer's pieces (WithPieces), exact at the zooms it is cut at.
type Coverage struct {
	zooms  [CoverageZoom + 1]map[uint32]struct{}
	pieces *PieceSet
}

// PieceSet is, for each zoom a tile layer is cut at (TileCut), the tiles
// that hold a piece of it (tile_piece), as sorted x<<16|y keys, and where
// each tile's pieces lie in the table. A tile of a cut zoom is built from
// its pieces alone (PieceTileSQL, PropsTileSQL), so a tile that is not in
// the set is empty: exactly, not by a bounding box. Stamp is
// map_state.pieces (migration 025) in the same snapshot.
type PieceSet struct {
	Stamp int64
	cut   [15]bool
	tiles [15][]uint32
	// The pieces of tiles[z][i] are at tids[z][at[z][i]:at[z][i+1]]: each
	// a row's ctid, block<<16 | offset.
	at   [15][]uint32
	tids [15][]uint64
	// Interior tiles (kabupaten and kecamatan layers): the tiles whose one
	// piece is the whole tile (InteriorSquare), sorted, and each one's area.
	inner     [15][]uint32
	innerCode [15][]string
}

// InteriorSquare is the piece of a tile that lies wholly inside one area,
// as tile_pieces cuts it: the tile and its 64-unit buffer, in this vertex
// order (every such piece of the country's layers is these bytes).
const InteriorSquare = "POLYGON((4160 -64,4160 4160,-64 4160,-64 -64,4160 -64))"

// Interior returns the area whose interior tile z/x/y is, or "".
func (p *PieceSet) Interior(z, x, y int) string {
	if p == nil || z < 0 || z >= len(p.inner) {
		return ""
	}
	i, ok := slices.BinarySearch(p.inner[z], uint32(x)<<16|uint32(y))
	if !ok {
		return ""
	}
	return p.innerCode[z][i]
}

// Tiles is how many tiles of every cut zoom hold a piece.
func (p *PieceSet) Tiles() int {
	n := 0
	for _, t := range p.tiles {
		n += len(t)
	}
	return n
}

// Pieces returns where the pieces of tile z/x/y lie in tile_piece (the
// rows' ctids, as block<<16 | offset), if z is cut and the tile holds any.
// They are where the set was read at Stamp: a tile built from them checks
// the stamp and the count of rows it found (MemTile).
func (p *PieceSet) Pieces(z, x, y int) []uint64 {
	if p == nil || z < 0 || z >= len(p.cut) || !p.cut[z] || p.at[z] == nil {
		return nil
	}
	i, ok := slices.BinarySearch(p.tiles[z], uint32(x)<<16|uint32(y))
	if !ok {
		return nil
	}
	return p.tids[z][p.at[z][i]:p.at[z][i+1]]
}

// TilePieceSet reads layer's PieceSet (desa, kecamatan, kabupaten), or
// returns nil when map_state.pieces is still have: the pieces have not
// changed since the set read at that stamp. For the country's villages
// (1.8 million pieces) it takes 2.5 s.
func (st *Store) TilePieceSet(ctx context.Context, layer string, have int64) (*PieceSet, error) {
	done, err := st.warmTurn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	// One row per zoom: a key per piece, in key order, and the pieces'
	// ctids in the same order. For the large areas' layers, also the
	// pieces that are a whole tile's square, with their codes: interior
	// tiles are most of the land at their deep zooms (the country's
	// kabupaten: 73% of the tiles of zoom 14; kecamatan: 43%); a village
	// is rarely larger than a tile.
	interior := layer == "kabupaten" || layer == "kecamatan"
	rows, err := st.db.TileReader().Query(ctx, `
		SELECT s.pieces, d.z, d.keys, d.tids, d.full_keys, d.full_codes
		FROM map_state s
		LEFT JOIN LATERAL (
			SELECT z, array_agg(x << 16 | y ORDER BY x << 16 | y, ctid) AS keys, array_agg(ctid ORDER BY x << 16 | y, ctid) AS tids,
				array_agg(x << 16 | y ORDER BY x << 16 | y) FILTER (WHERE $3 AND ST_AsBinary(geom) = ST_AsBinary($4::geometry)) AS full_keys,
				array_agg(code ORDER BY x << 16 | y) FILTER (WHERE $3 AND ST_AsBinary(geom) = ST_AsBinary($4::geometry)) AS full_codes
			FROM tile_piece WHERE layer = $1 AND z <= 14
			GROUP BY z) d ON s.pieces <> $2`, layer, have, interior, InteriorSquare)
	if err != nil {
		return nil, core.Wrap(err)
	}
	defer rows.Close()
	p := &PieceSet{}
	for z := range p.cut {
		p.cut[z] = TileCut(layer, z)
	}
	for rows.Next() {
		var z *int16
		var keys, fullKeys []int32
		var tids []pgtype.TID
		var fullCodes []string
		if err := rows.Scan(&p.Stamp, &z, &keys, &tids, &fullKeys, &fullCodes); err != nil {
			return nil, core.Wrap(err)
		}
		if p.Stamp == have {
			return nil, nil
		}
		if z == nil {
			continue // no piece at all
		}
		if len(tids) != len(keys) || *z < 0 || int(*z) >= len(p.cut) {
			return nil, fmt.Errorf("tile pieces of %s at zoom %d: %d keys, %d ctids", layer, *z, len(keys), len(tids))
		}
		var t, at []uint32
		flat := make([]uint64, len(tids))
		for i, k := range keys {
			if i == 0 || uint32(k) != t[len(t)-1] {
				t = append(t, uint32(k))
				at = append(at, uint32(i))
			}
			flat[i] = uint64(tids[i].BlockNumber)<<16 | uint64(tids[i].OffsetNumber)
		}
		p.tiles[*z], p.at[*z], p.tids[*z] = t, append(at, uint32(len(keys))), flat
		// A tile is interior when its one piece is the square.
		if len(fullKeys) != len(fullCodes) {
			return nil, fmt.Errorf("tile pieces of %s at zoom %d: %d whole tiles, %d codes", layer, *z, len(fullKeys), len(fullCodes))
		}
		for i, k := range fullKeys {
			if j, ok := slices.BinarySearch(t, uint32(k)); ok && p.at[*z][j+1]-p.at[*z][j] == 1 {
				p.inner[*z] = append(p.inner[*z], uint32(k))
				p.innerCode[*z] = append(p.innerCode[*z], fullCodes[i])
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, core.Wrap(err)
	}
	return p, nil
}

// Stamp is map_state.pieces when c's pieces were read (0: none).
func (c *Coverage) Stamp() int64 {
	if c.pieces == nil {
		return 0
	}
	return c.pieces.Stamp
}

// WithPieces is c, exact at the zooms pieces were cut at.
func (c *Coverage) WithPieces(pieces *PieceSet) *Coverage {
	out := *c
	out.pieces = pieces
	return &out
}

// NewCoverage spreads a coverage of zoom CoverageZoom over the shallower
// zooms: a tile is covered when a covered CoverageZoom tile lies under it
// or under its buffer (64/4096 of its width, in CoverageZoom tiles rounded
// up), since a tile keeps that much of what lies around it.
func NewCoverage(cov map[uint32]struct{}) *Coverage {
	c := &Coverage{}
	c.zooms[CoverageZoom] = cov
	floorDiv := func(a, n int) int {
		if a < 0 {
			return -((-a + n - 1) / n)
		}
		return a / n
	}
	for z := 0; z < CoverageZoom; z++ {
		n, last := 1<<(CoverageZoom-z), 1<<z-1
		b := (n*64 + 4095) / 4096
		set := map[uint32]struct{}{}
		for k := range cov {
			kx, ky := int(k>>16), int(k&0xffff)
			for x := max(0, floorDiv(kx-b, n)); x <= min(last, floorDiv(kx+b, n)); x++ {
				for y := max(0, floorDiv(ky-b, n)); y <= min(last, floorDiv(ky+b, n)); y++ {
					set[uint32(x)<<16|uint32(y)] = struct{}{}
				}
			}
		}
		c.zooms[z] = set
	}
	return c
}

// Where is where the pieces of tile z/x/y lie, if c knows (WithPieces).
func (c *Coverage) Where(z, x, y int) Where {
	if c == nil || c.pieces == nil {
		return Where{}
	}
	return Where{Stamp: c.pieces.Stamp, TIDs: c.pieces.Pieces(z, x, y), Inner: c.pieces.Interior(z, x, y)}
}

// Covers reports whether tile z/x/y may hold something of the layer.
func (c *Coverage) Covers(z, x, y int) bool {
	if p := c.pieces; p != nil && z < len(p.cut) && p.cut[z] {
		_, ok := slices.BinarySearch(p.tiles[z], uint32(x)<<16|uint32(y))
		return ok
	}
	if z >= CoverageZoom {
		_, ok := c.zooms[CoverageZoom][uint32(x>>(z-CoverageZoom))<<16|uint32(y>>(z-CoverageZoom))]
		return ok
	}
	_, ok := c.zooms[z][uint32(x)<<16|uint32(y)]
	return ok
}

// PieceTiles returns the tiles of zoom z that hold pieces of a tile layer
// (desa, kecamatan, kabupaten), and whether z is a zoom the layer is cut at
// (tile_cut): then every other tile of z is empty, and an export need not
// ask for it (most of a country's bounding box is sea).
func (st *Store) PieceTiles(ctx context.Context, layer string, z int) ([][2]int, bool, error) {
	var cut bool
	if err := st.db.TileReader().QueryRow(ctx, `SELECT tile_cut($1, $2)`, layer, z).Scan(&cut); err != nil || !cut {
		return nil, false, core.Wrap(err)
	}
	rows, err := st.db.TileReader().Query(ctx, `SELECT DISTINCT x, y FROM tile_piece WHERE layer = $1 AND z = $2 ORDER BY x, y`, layer, z)
	if err != nil {
		return nil, false, core.Wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]int, error) {
		var x, y int32
		err := r.Scan(&x, &y)
		return [2]int{int(x), int(y)}, err
	})
	return out, true, core.Wrap(err)
}

// AreaExtent returns the bounding box of a kabupaten, kecamatan or village
// (min lon, min lat, max lon, max lat); ENOTFOUND when there is none.
func (st *Store) AreaExtent(ctx context.Context, code string) ([4]float64, string, error) {
	var b [4]float64
	var name string
	err := st.db.Reader().QueryRow(ctx, `
		SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g), name FROM (
			SELECT geom::box2d AS g, name FROM kabupaten WHERE code = $1
			UNION ALL SELECT geom::box2d, name FROM kecamatan WHERE code = $1
			UNION ALL SELECT geom::box2d, name FROM village WHERE code = $1) a LIMIT 1`, code).
		Scan(&b[0], &b[1], &b[2], &b[3], &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, "", risk.Errorf(risk.ENOTFOUND, "no kabupaten, kecamatan or village has the code %s", code)
	}
	return b, name, core.Wrap(err)
}

// householdsNow is the latest survey of each household (a household
// surveyed in two rounds is one point) in the areas given by the
// placeholder areas (e.g. "$4").
func householdsNow(areas string) string {
	return `household h
	WHERE EXISTS (SELECT 1 FROM unnest(` + areas + `::text[]) a WHERE h.village_code = a OR h.village_code LIKE a || '.%')
	  AND NOT EXISTS (SELECT 1 FROM household h2 WHERE h2.identity_id = h.identity_id AND h2.id > h.id)`
}

// HouseholdTile returns one tile of a staff area's household points: the
// programme card number, the village and the household's open cases. It is
// personal data: the caller checks the principal and audits.
func (st *Store) HouseholdTile(ctx context.Context, areas []string, z, x, y int) ([]byte, error) {
	if err := CheckTile(z, x, y); err != nil {
		return nil, err
	}
	if len(areas) == 0 {
		return nil, risk.Errorf(risk.EINVALID, "household points need an area")
	}
	var b []byte
	err := st.db.Reader().QueryRow(ctx, `WITH t AS (SELECT ST_TileEnvelope($1::int, $2::int, $3::int) AS env),
		f AS (SELECT ST_AsMVTGeom(ST_Transform(h.geom, 3857), t.env, 4096, 64, true) AS geom, h.survey_uuid AS id,
			coalesce(h.programme_id, '') AS programme_id, h.village_code,
			(SELECT count(*) FROM child_case k WHERE k.identity_id = h.identity_id AND k.status NOT IN ('closed', 'lost'))::int8 AS open_cases
			FROM t, `+householdsNow("$4")+` AND h.geom && ST_Transform(t.env, 4326))
		SELECT coalesce(ST_AsMVT(f.*, 'households', 4096, 'geom'), '') FROM f WHERE f.geom IS NOT NULL`, z, x, y, areas).Scan(&b)
	return b, core.Wrap(err)
}

// HouseholdPoints counts the household points HouseholdTile draws in the
// areas: what an export of them is audited as.
func (st *Store) HouseholdPoints(ctx context.Context, areas []string) (int, error) {
	var n int
	err := st.db.Reader().QueryRow(ctx, `SELECT count(*) FROM `+householdsNow("$1"), areas).Scan(&n)
	return n, core.Wrap(err)
}
