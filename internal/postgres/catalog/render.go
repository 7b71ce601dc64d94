package catalog

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/postgres/core"
)

// RenderedMaxZoom is the deepest zoom whose tiles of the area layers
// (RenderedLayers) are rendered when a scoring run publishes and read back
// by key (migration 022). Under it a tile holds hundreds to thousands of
// areas and costs 10-40 ms to build cold; from it on a tile holds a few
// dozen and is built on request in about a millisecond, and there are far
// more of them (466,000 village tiles of zooms 6-14 for the country).
const RenderedMaxZoom = 10

// RenderedLayers are the collections whose low-zoom tiles are rendered
// ahead: the areas the map colours. Plantations and hotspots are built on
// request.
var RenderedLayers = []string{"kabupaten", "kecamatan", "villages"}

// Rendered reports whether tile z of collection c may have been rendered
// ahead (RenderTiles), for some month: an area layer at a zoom from the
// layer's first to RenderedMaxZoom. Which months were rendered the lookup
// (RenderedTile) tells.
func Rendered(c *Collection, z int) bool {
	return z <= RenderedMaxZoom && z >= TileLayers[c.ID].MinZoom && slices.Contains(RenderedLayers, c.ID)
}

// Recipe names how a collection's tiles are built: a hash of their SQL. A
// rendered tile is served only under the recipe it was built with, so a
// release of riskmap that changes a layer's properties or geometry never
// serves tiles the previous one rendered.
// It is worked out once per collection and process (building the SQL
// took a tenth of a rendered tile's time in the service).
func Recipe(c *Collection) string {
	if r, ok := recipes.Load(c.ID); ok {
		return r.(string)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(TileSQL(c)))
	_, _ = h.Write([]byte(PieceTileSQL(c)))
	if HasTileProps(c) {
		_, _ = h.Write([]byte(PropsTileSQL(c)))
		_, _ = h.Write([]byte(propsBuildSQL(c)))
	}
	r := fmt.Sprintf("%016x", h.Sum64())
	recipes.Store(c.ID, r)
	return r
}

// recipes keeps Recipe by collection id: a collection's tile SQL is fixed
// for the life of the process (Collections builds the same catalogue every
// time).
var recipes sync.Map

// RenderedTile returns the rendered tile z/x/y of collection c for month
// (0: annual), gzip-compressed (nil: an empty tile), if it was rendered at
// map generation generation (GenerationOf the data version the caller
// serves) with the collection's current recipe, or if it has no row at all
// and the layer was rendered in full for that month then (the tile holds
// no area). ok is false otherwise, and the caller builds the tile (Tile).
// A rendered tile is one probe of the key; only a tile without one asks
// whether its layer is complete.
func (st *Store) RenderedTile(ctx context.Context, c *Collection, z, x, y, month int, generation int64) (gz []byte, ok bool, err error) {
	recipe := Recipe(c)
	err = st.db.TileReader().QueryRow(ctx, `SELECT gz FROM tile_render
		WHERE layer = $1 AND z = $2 AND x = $3 AND y = $4 AND month = $5 AND generation = $6 AND recipe = $7`,
		c.ID, z, x, y, month, generation, recipe).Scan(&gz)
	if err == nil {
		if len(gz) == 0 {
			gz = nil
		}
		return gz, true, nil
	}
	if err != pgx.ErrNoRows {
		return nil, false, core.Wrap(err)
	}
	err = st.db.TileReader().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tile_render_layer WHERE layer = $1 AND month = $5 AND generation = $6 AND recipe = $7)
		AND NOT EXISTS (SELECT 1 FROM tile_render WHERE layer = $1 AND z = $2 AND x = $3 AND y = $4 AND month = $5)`,
		c.ID, z, x, y, month, generation, recipe).Scan(&ok)
	return nil, ok, core.Wrap(err)
}

// RenderedMonths are the months RenderTiles renders: 0 (the annual tiles,
// what GIS clients ask for) and the month the map page opens on, the peak
// of the default variety's labour calendar (every month at the peak, if
// several are; the page picks the first of them from today on). Another
// month is built on request.
func (st *Store) RenderedMonths(ctx context.Context) ([]int, error) {
	var peaks []int32
	err := st.db.Pool.QueryRow(ctx, `
		SELECT coalesce(array_agg(m ORDER BY m) FILTER (WHERE v >= top - 1e-9), '{}')
		FROM (SELECT u.m::int AS m, u.v, max(u.v) OVER () AS top
			FROM score_calendar c, unnest(c.labour_index) WITH ORDINALITY AS u(v, m)
			WHERE c.variety = (SELECT model->>'default_variety' FROM score_run ORDER BY id DESC LIMIT 1)) x`).Scan(&peaks)
	if err != nil {
		return nil, core.Wrap(err)
	}
	months := []int{0}
	for _, m := range peaks {
		if m >= 1 && m <= 12 {
			months = append(months, int(m))
		}
	}
	return months, nil
}

// RenderStats says what RenderTiles did.
type RenderStats struct {
	Tiles      int     // tiles rendered
	Months     []int   // for these months (0: annual)
	Bytes      int64   // their gzip-compressed bytes
	Largest    int     // the largest tile, uncompressed bytes
	Generation int64   // the map generation they were read at (the last, if a commit came during the run)
	Seconds    float64 // wall time, the tile properties' included
	Props      PropsStats
}

// RenderTiles writes the area layers' tile properties for the deeper
// zooms (WriteTileProps), then renders every tile of those layers
// (RenderedLayers) from
// each layer's first zoom to RenderedMaxZoom that holds a piece of an area,
// for each of RenderedMonths, with workers connections at once, and drops
// rendered tiles of earlier generations. Each tile is read in one
// statement together with the generation it is tagged with, so a tile and
// its tag always agree: a scoring run or import that commits during the
// rendering leaves the tiles read before it tagged with a generation no
// longer served.
func (st *Store) RenderTiles(ctx context.Context, workers int) (RenderStats, error) {
	start := time.Now()
	// The deep zooms' tile properties first (WriteTileProps).
	props, err := st.WriteTileProps(ctx)
	if err != nil {
		return RenderStats{}, err
	}
	months, err := st.RenderedMonths(ctx)
	if err != nil {
		return RenderStats{}, err
	}
	type job struct {
		c                  *Collection
		recipe, sql, props string // props: through the tile properties, "" where there are none
		z, x, y, month     int
	}
	type part struct {
		layer string
		month int
	}
	var jobs []job
	listed := map[string]int64{} // the generation each layer's tiles were listed at
	byID := map[string]*Collection{}
	for _, c := range Collections() {
		byID[c.ID] = c
	}
	for _, id := range RenderedLayers {
		c := byID[id]
		recipe := Recipe(c)
		// By zoom, the query the service would run for the tile.
		// The tile properties were just written: the tiles are rendered
		// through them as the service builds them (PropsTileSQL), and from
		// the areas' tables if a commit has made them stale since.
		sqls, props := map[int]string{}, map[int]string{}
		for z := TileLayers[id].MinZoom; z <= RenderedMaxZoom; z++ {
			sqls[z] = `SELECT (SELECT generation FROM map_state), true, (` + tileSQLFor(c, z) + `)`
			if HasTileProps(c) && TileCut(c.TileLayer, z) {
				props[z] = `SELECT (SELECT generation FROM map_state), q.ok, q.tile FROM (` + propsSQL(c) + `) AS q(ok, tile)`
			}
		}
		// The tiles holding a piece, listed with the generation in one
		// snapshot: the layer is complete at that generation only if
		// every one of them is rendered at it too.
		rows, err := st.db.Pool.Query(ctx, `SELECT m.generation, p.z, p.x, p.y FROM map_state m,
			(SELECT DISTINCT z, x, y FROM tile_piece WHERE layer = $1 AND z BETWEEN $2 AND $3 AND tile_cut($1, z)) p
			ORDER BY p.z, p.x, p.y`, c.TileLayer, TileLayers[id].MinZoom, RenderedMaxZoom)
		if err != nil {
			return RenderStats{}, core.Wrap(err)
		}
		for rows.Next() {
			var g int64
			var z int16
			var x, y int32
			if err := rows.Scan(&g, &z, &x, &y); err != nil {
				rows.Close()
				return RenderStats{}, core.Wrap(err)
			}
			listed[id] = g
			for _, m := range months {
				jobs = append(jobs, job{c, recipe, sqls[int(z)], props[int(z)], int(z), int(x), int(y), m})
			}
		}
		if err := rows.Err(); err != nil {
			return RenderStats{}, core.Wrap(err)
		}
	}
	var (
		mu    sync.Mutex
		stats = RenderStats{Months: months, Props: props}
		seen  = map[part]map[int64]bool{} // the generations each layer's tiles of a month were read at
		first error
		next  int
		wg    sync.WaitGroup
	)
	take := func() (job, bool) {
		mu.Lock()
		defer mu.Unlock()
		if first != nil || next == len(jobs) {
			return job{}, false
		}
		next++
		return jobs[next-1], true
	}
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			for {
				j, ok := take()
				if !ok {
					return
				}
				var gen int64
				var mvt []byte
				current := false
				var err error
				if j.props != "" {
					err = st.db.Pool.QueryRow(ctx, j.props, j.z, j.x, j.y, j.month, j.recipe).Scan(&gen, &current, &mvt)
				}
				if err == nil && !current {
					err = st.db.Pool.QueryRow(ctx, j.sql, j.z, j.x, j.y, j.month).Scan(&gen, &current, &mvt)
				}
				gz := []byte{}
				if err == nil && len(mvt) > 0 {
					buf.Reset()
					zw.Reset(&buf)
					_, _ = zw.Write(mvt)
					_ = zw.Close()
					gz = bytes.Clone(buf.Bytes())
				}
				if err == nil {
					_, err = st.db.Pool.Exec(ctx, `INSERT INTO tile_render (layer, z, x, y, month, generation, recipe, gz) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
						ON CONFLICT (layer, z, x, y, month) DO UPDATE SET generation = excluded.generation, recipe = excluded.recipe, gz = excluded.gz
						WHERE tile_render.generation <= excluded.generation`, j.c.ID, j.z, j.x, j.y, j.month, gen, j.recipe, gz)
				}
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("render tile %s %d/%d/%d month %d: %w", j.c.ID, j.z, j.x, j.y, j.month, err)
				}
				stats.Tiles++
				stats.Bytes += int64(len(gz))
				stats.Largest = max(stats.Largest, len(mvt))
				stats.Generation = max(stats.Generation, gen)
				p := part{j.c.ID, j.month}
				if seen[p] == nil {
					seen[p] = map[int64]bool{}
				}
				seen[p][gen] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return stats, core.Wrap(first)
	}
	// A layer is complete for a month when all its tiles were read at the
	// generation they were listed at: a missing tile of it is then empty.
	for _, id := range RenderedLayers {
		g, ok := listed[id]
		for _, m := range months {
			if s := seen[part{id, m}]; !ok || len(s) != 1 || !s[g] {
				continue
			}
			if _, err := st.db.Pool.Exec(ctx, `INSERT INTO tile_render_layer (layer, month, generation, recipe) VALUES ($1, $2, $3, $4)
				ON CONFLICT (layer, month) DO UPDATE SET generation = excluded.generation, recipe = excluded.recipe
				WHERE tile_render_layer.generation <= excluded.generation`, id, m, g, Recipe(byID[id])); err != nil {
				return stats, core.Wrap(err)
			}
		}
	}
	// Rows of an earlier generation (tiles no longer holding any area, a
	// month no longer the peak, or read before a commit) are never served
	// again.
	if _, err := st.db.Pool.Exec(ctx, `DELETE FROM tile_render WHERE generation < (SELECT generation FROM map_state)`); err != nil {
		return stats, core.Wrap(err)
	}
	stats.Seconds = time.Since(start).Seconds()
	return stats, nil
}
