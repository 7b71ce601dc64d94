package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// TestTilePieces checks the area tiles cut in advance (tile_piece,
// migration 013) against the same tiles clipped on request from tile_geom
// (UncutTileSQL), feature by feature, over the real boundaries: every tile
// of the region up to zoom 11 and a sample from 12 to 15, for every
// collection that reads them. Then it moves one village and deletes
// another, and checks the pieces followed.
func TestTilePieces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	dbtest.LoadRealBoundaries(t, db)
	byID := map[string]*postgres.Collection{}
	for _, c := range postgres.Collections() {
		byID[c.ID] = c
	}
	decode := func(c *postgres.Collection, sql string, z, x, y int) map[string]*feature {
		t.Helper()
		var b []byte
		if err := db.Pool.QueryRow(ctx, sql, z, x, y, 8).Scan(&b); err != nil {
			t.Fatalf("%s %d/%d/%d: %v", c.ID, z, x, y, err)
		}
		layers, err := mvt.Unmarshal(b)
		if err != nil {
			t.Fatalf("%s %d/%d/%d: %v", c.ID, z, x, y, err)
		}
		out := map[string]*feature{}
		for _, l := range layers {
			for _, f := range l.Features {
				id := fmt.Sprint(f.Properties["id"])
				if out[id] != nil {
					t.Errorf("%s %d/%d/%d: feature %s twice", c.ID, z, x, y, id)
				}
				out[id] = &feature{f.Geometry, f.Properties}
			}
		}
		return out
	}
	// same compares one tile both ways and returns its features.
	same := func(c *postgres.Collection, z, x, y int) int {
		t.Helper()
		cut, uncut := decode(c, postgres.TileSQL(c), z, x, y), decode(c, postgres.UncutTileSQL(c), z, x, y)
		if len(cut) != len(uncut) {
			t.Errorf("%s %d/%d/%d: %d features cut in advance, %d clipped on request", c.ID, z, x, y, len(cut), len(uncut))
		}
		for id, u := range uncut {
			f := cut[id]
			switch {
			case f == nil:
				t.Errorf("%s %d/%d/%d: feature %s missing from the pieces", c.ID, z, x, y, id)
			case !orb.Equal(f.geom, u.geom):
				t.Errorf("%s %d/%d/%d: feature %s: the piece's geometry differs from the tile's", c.ID, z, x, y, id)
			case !reflect.DeepEqual(f.props, u.props):
				t.Errorf("%s %d/%d/%d: feature %s: properties %v, want %v", c.ID, z, x, y, id, f.props, u.props)
			}
		}
		// The service runs the pieces' half alone at a cut zoom
		// (PieceTileSQL): the same tile; elsewhere that half is empty.
		piece := decode(c, postgres.PieceTileSQL(c), z, x, y)
		if !postgres.TileCut(c.TileLayer, z) {
			if len(piece) != 0 {
				t.Errorf("%s %d/%d/%d: zoom not cut, yet %d features from the pieces", c.ID, z, x, y, len(piece))
			}
		} else if len(piece) != len(cut) {
			t.Errorf("%s %d/%d/%d: %d features from the pieces alone, %d from TileSQL", c.ID, z, x, y, len(piece), len(cut))
		} else {
			for id, f := range cut {
				if p := piece[id]; p == nil || !orb.Equal(p.geom, f.geom) || !reflect.DeepEqual(p.props, f.props) {
					t.Errorf("%s %d/%d/%d: feature %s from the pieces alone differs from TileSQL's", c.ID, z, x, y, id)
				}
			}
		}
		if c.ID == "villages" && z >= postgres.TileLayers["villages"].MinZoom && z <= 14 { // the tile was read from its pieces
			var pieces int
			if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM tile_piece WHERE layer = 'desa' AND (z, x, y) = ($1, $2, $3)`, z, x, y).Scan(&pieces); err != nil || pieces != len(cut) {
				t.Errorf("%s %d/%d/%d: %d pieces for %d features (%v)", c.ID, z, x, y, pieces, len(cut), err)
			}
		}
		return len(uncut)
	}
	minLon, minLat, maxLon, maxLat := dbtest.VillageExtent(t, db)
	tiles := 0
	for _, id := range []string{"kabupaten", "kecamatan", "villages", "hotspots"} {
		features := 0
		for z := 0; z <= 15; z++ {
			x0, y0 := postgres.LonLatToTile(minLon, maxLat, z)
			x1, y1 := postgres.LonLatToTile(maxLon, minLat, z)
			n := (x1 - x0 + 1) * (y1 - y0 + 1)
			step := 1
			if z > 11 {
				step = n/25 + 1 // about 25 tiles a zoom, spread over the region
			}
			for k := 0; k < n; k += step {
				features += same(byID[id], z, x0+k%(x1-x0+1), y0+k/(x1-x0+1))
				tiles++
			}
		}
		if features == 0 && id != "hotspots" { // no survey: no hotspots
			t.Errorf("%s: no features in any tile: the comparison compared nothing", id)
		}
	}
	t.Logf("%d tiles compared", tiles)

	// The pieces follow the boundaries: a village moved 1 km east, and a
	// village deleted.
	var moved, gone string
	if err := db.Pool.QueryRow(ctx, `SELECT min(code), max(code) FROM village`).Scan(&moved, &gone); err != nil {
		t.Fatal(err)
	}
	tilesOf := func(code string) [][3]int {
		rows, err := db.Pool.Query(ctx, `SELECT z, x, y FROM tile_piece WHERE layer = 'desa' AND code = $1 AND z BETWEEN 10 AND 14`, code)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out [][3]int
		for rows.Next() {
			var z, x, y int
			if err := rows.Scan(&z, &x, &y); err != nil {
				t.Fatal(err)
			}
			out = append(out, [3]int{z, x, y})
		}
		return out
	}
	movedBefore := sortTiles(tilesOf(moved))
	before := append(tilesOf(moved), tilesOf(gone)...)
	if len(movedBefore) == 0 || len(before) == len(movedBefore) {
		t.Fatal("no pieces for the villages to move and delete")
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE village SET geom = ST_Translate(geom, 0.009, 0) WHERE code = $1`, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `DELETE FROM village WHERE code = $1`, gone); err != nil {
		t.Fatal(err)
	}
	after := sortTiles(tilesOf(moved))
	if reflect.DeepEqual(after, movedBefore) {
		t.Errorf("village %s moved 1 km, its pieces stayed in the same tiles %v", moved, after)
	}
	if n := len(tilesOf(gone)); n != 0 {
		t.Errorf("village %s deleted, %d of its pieces kept", gone, n)
	}
	for _, tl := range append(before, after...) {
		same(byID["villages"], tl[0], tl[1], tl[2])
	}
	var stale int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM tile_piece p WHERE NOT EXISTS (
		SELECT 1 FROM village v WHERE v.code = p.code) AND p.layer = 'desa'`).Scan(&stale); err != nil || stale != 0 {
		t.Errorf("pieces of villages that are no more: %d (%v)", stale, err)
	}
}

type feature struct {
	geom  orb.Geometry
	props map[string]any
}

func sortTiles(ts [][3]int) [][3]int {
	sort.Slice(ts, func(i, j int) bool {
		return ts[i][0] < ts[j][0] || ts[i][0] == ts[j][0] && (ts[i][1] < ts[j][1] || ts[i][1] == ts[j][1] && ts[i][2] < ts[j][2])
	})
	return ts
}

// TestTileCutMatchesSQL checks TileCut, with which the service picks a
// tile's query, against tile_cut, which decides which pieces exist, for
// every layer and zoom.
func TestTileCutMatchesSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	cut := 0
	for _, c := range postgres.Collections() {
		if c.TileLayer == "" {
			continue
		}
		for z := 0; z <= 22; z++ {
			var want bool
			if err := db.Pool.QueryRow(ctx, `SELECT tile_cut($1, $2)`, c.TileLayer, z).Scan(&want); err != nil {
				t.Fatal(err)
			}
			if got := postgres.TileCut(c.TileLayer, z); got != want {
				t.Errorf("TileCut(%q, %d) = %v, tile_cut says %v", c.TileLayer, z, got, want)
			}
			if want {
				cut++
			}
		}
	}
	if cut == 0 {
		t.Error("no layer is cut at any zoom: nothing was compared")
	}
}

// TestTileProps checks the tile properties written ahead (tile_props,
// migration 023): over a scored region, every deep tile read through them
// (PropsTileSQL) holds the features of the tile built from the areas'
// tables (PieceTileSQL), geometry and typed properties alike (the order of
// features follows the join's plan and is not compared), for each area layer, annual and for a month; a changed
// published figure or another recipe makes them not current, and the
// service's Tile then builds the tile with the new figure; writing them
// again makes them current.
func TestTileProps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	dbtest.LoadRealRegion(t, db, 2000, 41)
	if _, err := db.RenderTiles(ctx, 2); err != nil {
		t.Fatal(err)
	}
	minLon, minLat, maxLon, maxLat := dbtest.VillageExtent(t, db)
	props := func(c *postgres.Collection, recipe string, z, x, y, month int) (bool, []byte) {
		t.Helper()
		return propsTile(t, db, c, recipe, z, x, y, month)
	}
	built := func(c *postgres.Collection, z, x, y, month int) []byte {
		t.Helper()
		var b []byte
		if err := db.Pool.QueryRow(ctx, postgres.PieceTileSQL(c), z, x, y, month).Scan(&b); err != nil {
			t.Fatalf("%s %d/%d/%d: %v", c.ID, z, x, y, err)
		}
		return b
	}
	var villages *postgres.Collection
	compared, nonEmpty := 0, 0
	for _, c := range postgres.Collections() {
		if !postgres.HasTileProps(c) {
			continue
		}
		if c.ID == "villages" {
			villages = c
		}
		for z := postgres.TileLayers[c.ID].MinZoom; z <= 14; z++ {
			if !postgres.TileCut(c.TileLayer, z) {
				continue
			}
			x0, y0 := postgres.LonLatToTile(minLon, maxLat, z)
			x1, y1 := postgres.LonLatToTile(maxLon, minLat, z)
			n := (x1 - x0 + 1) * (y1 - y0 + 1)
			for k := 0; k < n; k += n/20 + 1 {
				x, y := x0+k%(x1-x0+1), y0+k/(x1-x0+1)
				for _, month := range []int{0, 8} {
					current, got := props(c, postgres.Recipe(c), z, x, y, month)
					want := built(c, z, x, y, month)
					if !current {
						t.Fatalf("%s: the properties just written are not current", c.ID)
					}
					if d := tileDiff(got, want); d != "" {
						t.Errorf("%s %d/%d/%d month %d: through the properties, against built from the tables: %s", c.ID, z, x, y, month, d)
					}
					compared++
					if len(want) > 0 {
						nonEmpty++
					}
				}
			}
		}
	}
	if villages == nil || compared == 0 || nonEmpty == 0 {
		t.Fatalf("%d tiles compared, %d with features", compared, nonEmpty)
	}
	t.Logf("%d tiles compared, %d with features", compared, nonEmpty)

	// Another recipe: not current.
	x, y := postgres.LonLatToTile(113.4998, -7.8094, 13)
	if current, _ := props(villages, "another", 13, x, y, 0); current {
		t.Error("properties written for another recipe are current")
	}
	// A changed published figure: not current, and the service builds the
	// tile with the new figure.
	var code string
	if err := db.Pool.QueryRow(ctx, `SELECT code FROM tile_piece WHERE layer = 'desa' AND (z, x, y) = (13, $1, $2) LIMIT 1`, x, y).Scan(&code); err != nil {
		t.Fatal(err)
	}
	before, err := db.Tile(ctx, villages, 13, x, y, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE area_public SET score = 99.5, tier = 'high' WHERE level = 'desa' AND code = $1`, code); err != nil {
		t.Fatal(err)
	}
	if current, _ := props(villages, postgres.Recipe(villages), 13, x, y, 0); current {
		t.Error("the properties are current after a published figure changed")
	}
	after, err := db.Tile(ctx, villages, 13, x, y, 0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(after, before) || tileDiff(after, built(villages, 13, x, y, 0)) != "" || !bytes.Contains(after, []byte("high")) {
		t.Errorf("after the change the service's tile is %d bytes (before %d), want the tile built from the tables", len(after), len(before))
	}
	// Written again: current, with the new figure.
	if _, err := db.RenderTiles(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if current, got := props(villages, postgres.Recipe(villages), 13, x, y, 0); !current || tileDiff(got, after) != "" {
		t.Errorf("written again: current %v, %d bytes, want %d", current, len(got), len(after))
	}
}

// tileDiff says how two vector tiles differ, feature by feature within
// each layer (by the id property), ignoring the order of layers, features

// TestMemTile checks the tiles built from the pieces alone with the
// properties in memory (MemProps, MemTile), and the interior tiles built
// from memory alone (InteriorTile): over a scored region, for each area
// layer, every cut zoom, annual and for a month, byte for byte the tile
// PropsTileSQL builds in the database. Then the service's Tile: once
// it holds the properties, a changed published figure is served at once
// (the statement reads a newer generation, and the tile is built from the
// tables), and the properties written again are read into memory and
// served byte for byte, also when the generation went back (a restore).
func TestMemTile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	dbtest.LoadRealRegion(t, db, 2000, 43)
	if _, err := db.RenderTiles(ctx, 2); err != nil {
		t.Fatal(err)
	}
	minLon, minLat, maxLon, maxLat := dbtest.VillageExtent(t, db)
	inDB := func(c *postgres.Collection, z, x, y, month int) []byte {
		t.Helper()
		current, b := propsTile(t, db, c, postgres.Recipe(c), z, x, y, month)
		if !current {
			t.Fatalf("%s: the properties just written are not current", c.ID)
		}
		return b
	}
	var villages *postgres.Collection
	compared, nonEmpty := 0, 0
	interior := map[string]int{}
	for _, c := range postgres.Collections() {
		if !postgres.HasTileProps(c) {
			continue
		}
		if c.ID == "villages" {
			villages = c
		}
		p, err := db.LoadMemProps(ctx, c)
		if err != nil || p == nil {
			t.Fatalf("%s: properties in memory %v, %v", c.ID, p, err)
		}
		var areas int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM tile_props WHERE collection = $1`, c.ID).Scan(&areas); err != nil {
			t.Fatal(err)
		}
		if p.Areas() != areas || areas == 0 {
			t.Errorf("%s: %d areas in memory, %d in tile_props", c.ID, p.Areas(), areas)
		}
		pieces, err := db.TilePieceSet(ctx, c.TileLayer, 0)
		if err != nil {
			t.Fatal(err)
		}
		for z := postgres.TileLayers[c.ID].MinZoom; z <= 14; z++ {
			if !postgres.TileCut(c.TileLayer, z) {
				continue
			}
			x0, y0 := postgres.LonLatToTile(minLon, maxLat, z)
			x1, y1 := postgres.LonLatToTile(maxLon, minLat, z)
			n := (x1 - x0 + 1) * (y1 - y0 + 1)
			for k := 0; k < n; k += n/25 + 1 {
				x, y := x0+k%(x1-x0+1), y0+k/(x1-x0+1)
				at := postgres.Where{Stamp: pieces.Stamp, TIDs: pieces.Pieces(z, x, y)}
				for _, month := range []int{0, 8, 12} {
					want := inDB(c, z, x, y, month)
					// Found by the key's index, and where the piece set
					// says they lie.
					for _, at := range []postgres.Where{{}, at} {
						got, gen, moved, err := db.MemTile(ctx, c, p, z, x, y, month, at)
						if err != nil || gen != p.Generation || moved {
							t.Fatalf("%s %d/%d/%d: generation %d (memory %d), moved %v, %v", c.ID, z, x, y, gen, p.Generation, moved, err)
						}
						if !bytes.Equal(got, want) {
							t.Errorf("%s %d/%d/%d month %d, %d pieces located: %d bytes from memory, %d from PropsTileSQL (%s)", c.ID, z, x, y, month, len(at.TIDs), len(got), len(want), tileDiff(got, want))
						}
					}
					if (len(at.TIDs) > 0) != (len(want) > 0) {
						t.Errorf("%s %d/%d/%d: %d pieces located, a tile of %d bytes", c.ID, z, x, y, len(at.TIDs), len(want))
					}
					// An interior tile, from memory alone.
					if code := pieces.Interior(z, x, y); code != "" {
						got, err := p.InteriorTile(code, z, month)
						if err != nil || !bytes.Equal(got, want) {
							t.Errorf("%s %d/%d/%d month %d, interior to %s: %d bytes from memory alone, %d from PropsTileSQL (%v %s)", c.ID, z, x, y, month, code, len(got), len(want), err, tileDiff(got, want))
						}
						if len(at.TIDs) != 1 {
							t.Errorf("%s %d/%d/%d: interior to %s, with %d pieces", c.ID, z, x, y, code, len(at.TIDs))
						}
						interior[c.ID]++
					}
					compared++
					if len(want) > 0 {
						nonEmpty++
					}
				}
			}
		}
	}
	if villages == nil || nonEmpty < 20 {
		t.Fatalf("%d tiles compared, %d with features", compared, nonEmpty)
	}
	if interior["kabupaten"] == 0 || interior["kecamatan"] == 0 {
		t.Errorf("interior tiles compared: %v, want some of both layers", interior)
	}
	t.Logf("%d tiles compared byte for byte, %d with features; interior tiles %v", compared, nonEmpty, interior)

	// Where the pieces lie, not current: another stamp, or a row that is
	// not the tile's (as after CLUSTER moved them). The pieces are then
	// found by their key, and the caller told to read the set again.
	x, y := postgres.LonLatToTile(113.4998, -7.8094, 13)
	pieces, err := db.TilePieceSet(ctx, "desa", 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.LoadMemProps(ctx, villages)
	if err != nil || p == nil {
		t.Fatal(p, err)
	}
	want := inDB(villages, 13, x, y, 0)
	here := pieces.Pieces(13, x, y)
	other := pieces.Pieces(14, 2*x, 2*y)
	if len(here) == 0 || len(other) == 0 || len(want) == 0 {
		t.Fatalf("tile 13/%d/%d: %d pieces located, %d bytes; below it %d", x, y, len(here), len(want), len(other))
	}
	for _, at := range []postgres.Where{
		{Stamp: pieces.Stamp + 1, TIDs: here},
		{Stamp: pieces.Stamp, TIDs: append([]uint64{other[0]}, here[1:]...)},
	} {
		got, _, moved, err := db.MemTile(ctx, villages, p, 13, x, y, 0, at)
		if err != nil || !moved || !bytes.Equal(got, want) {
			t.Errorf("pieces not where they were said to be (stamp %d, set at %d): moved %v, %d bytes, want %d, %v", at.Stamp, pieces.Stamp, moved, len(got), len(want), err)
		}
	}

	// The service: it reads the properties into memory in the background.
	var gen0 int64
	if err := db.Pool.QueryRow(ctx, `SELECT generation FROM map_state`).Scan(&gen0); err != nil {
		t.Fatal(err)
	}
	held := func(gen int64) {
		t.Helper()
		for start := time.Now(); ; {
			held, _ := db.TilePropsInMemory("villages")
			if held == gen {
				break
			}
			if time.Since(start) > 20*time.Second {
				t.Fatalf("the service holds the properties of generation %d, want %d", held, gen)
			}
			if _, err := db.Tile(ctx, villages, 13, x, y, 0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	held(gen0)
	before, err := db.Tile(ctx, villages, 13, x, y, 0)
	if err != nil || !bytes.Equal(before, inDB(villages, 13, x, y, 0)) || len(before) == 0 {
		t.Fatalf("served from memory: %d bytes, %v; want PropsTileSQL's %d", len(before), err, len(inDB(villages, 13, x, y, 0)))
	}
	var code string
	if err := db.Pool.QueryRow(ctx, `SELECT code FROM tile_piece WHERE layer = 'desa' AND (z, x, y) = (13, $1, $2) ORDER BY code LIMIT 1`, x, y).Scan(&code); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE area_public SET score = 99.5, tier = 'high' WHERE level = 'desa' AND code = $1`, code); err != nil {
		t.Fatal(err)
	}
	var built []byte
	if err := db.Pool.QueryRow(ctx, postgres.PieceTileSQL(villages), 13, x, y, 0).Scan(&built); err != nil {
		t.Fatal(err)
	}
	after, err := db.Tile(ctx, villages, 13, x, y, 0)
	if err != nil || bytes.Equal(after, before) || tileDiff(after, built) != "" || !bytes.Contains(after, []byte("high")) {
		t.Fatalf("after a published figure changed the service's tile is %d bytes (before %d), %v; want the tile built from the tables", len(after), len(before), err)
	}
	// Written again: read into memory, and served from there.
	if _, err := db.RenderTiles(ctx, 2); err != nil {
		t.Fatal(err)
	}
	var gen1 int64
	if err := db.Pool.QueryRow(ctx, `SELECT generation FROM map_state`).Scan(&gen1); err != nil {
		t.Fatal(err)
	}
	if gen1 <= gen0 {
		t.Fatalf("generation %d after the change, %d before", gen1, gen0)
	}
	held(gen1)
	again, err := db.Tile(ctx, villages, 13, x, y, 0)
	if err != nil || !bytes.Equal(again, inDB(villages, 13, x, y, 0)) || tileDiff(again, built) != "" {
		t.Fatalf("written again, served from memory: %d bytes, %v; want the tile with the new figure (%d bytes)", len(again), err, len(built))
	}
	// A database restored from a backup can be at an older generation
	// than the properties in memory: those are read again too.
	if _, err := db.Pool.Exec(ctx, `UPDATE map_state SET generation = $1`, gen0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RenderTiles(ctx, 2); err != nil {
		t.Fatal(err)
	}
	held(gen0)
	if restored, err := db.Tile(ctx, villages, 13, x, y, 0); err != nil || !bytes.Equal(restored, inDB(villages, 13, x, y, 0)) {
		t.Fatalf("restored at generation %d: %d bytes, %v", gen0, len(restored), err)
	}
}

// and keys; "" when they hold the same.
// propsTile runs PropsTileSQL for tile z/x/y of c under recipe: whether
// the properties written ahead are current, and then the tile.
func propsTile(t *testing.T, db *postgres.DB, c *postgres.Collection, recipe string, z, x, y, month int) (bool, []byte) {
	t.Helper()
	var current bool
	var b []byte
	if err := db.Pool.QueryRow(context.Background(), postgres.PropsTileSQL(c), z, x, y, month, recipe).Scan(&current, &b); err != nil {
		t.Fatalf("%s %d/%d/%d: %v", c.ID, z, x, y, err)
	}
	return current, b
}

func tileDiff(a, b []byte) string {
	read := func(t []byte) (map[string]map[string]*feature, error) {
		layers, err := mvt.Unmarshal(t)
		if err != nil {
			return nil, err
		}
		out := map[string]map[string]*feature{}
		for _, l := range layers {
			fs := map[string]*feature{}
			for _, f := range l.Features {
				fs[fmt.Sprint(f.Properties["id"])] = &feature{f.Geometry, f.Properties}
			}
			out[l.Name] = fs
		}
		return out, nil
	}
	la, err := read(a)
	if err != nil {
		return err.Error()
	}
	lb, err := read(b)
	if err != nil {
		return err.Error()
	}
	if len(la) != len(lb) {
		return fmt.Sprintf("%d layers against %d", len(la), len(lb))
	}
	for name, fa := range la {
		fb := lb[name]
		if len(fa) != len(fb) {
			return fmt.Sprintf("layer %s: %d features against %d", name, len(fa), len(fb))
		}
		for id, f := range fa {
			g := fb[id]
			switch {
			case g == nil:
				return fmt.Sprintf("layer %s: feature %s only in the first", name, id)
			case !orb.Equal(f.geom, g.geom):
				return fmt.Sprintf("layer %s: feature %s: geometry differs", name, id)
			case !reflect.DeepEqual(f.props, g.props):
				return fmt.Sprintf("layer %s: feature %s: properties %v against %v", name, id, f.props, g.props)
			}
		}
	}
	return ""
}

// TestTilePieceSet: a layer's piece set holds every tile of every cut zoom
// that has a piece, and is not read again while map_state.pieces stays
// (a change to the published figures leaves it); a boundary change moves
// it.
func TestTilePieceSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := dbtest.NewDemo(t)
	for _, layer := range []string{"desa", "kecamatan", "kabupaten"} {
		p, err := db.TilePieceSet(ctx, layer, 0)
		if err != nil || p == nil {
			t.Fatalf("%s: %v, %v", layer, p, err)
		}
		var want int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT z, x, y FROM tile_piece WHERE layer = $1) t`, layer).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got := p.Tiles(); got != want || want == 0 {
			t.Errorf("%s: %d tiles in the set, tile_piece has pieces on %d", layer, got, want)
		}
		// A change to the published figures is a new map generation, not
		// new pieces.
		if _, err := db.Pool.Exec(ctx, `UPDATE area_public SET score = score WHERE false`); err != nil {
			t.Fatal(err)
		}
		if again, err := db.TilePieceSet(ctx, layer, p.Stamp); err != nil || again != nil {
			t.Errorf("%s: read again at an unchanged stamp: %v, %v", layer, again, err)
		}
		if layer != "kabupaten" {
			continue
		}
		if _, err := db.Pool.Exec(ctx, `UPDATE kabupaten SET geom = ST_Translate(geom, 0.01, 0) WHERE code = (SELECT min(code) FROM kabupaten)`); err != nil {
			t.Fatal(err)
		}
		moved, err := db.TilePieceSet(ctx, layer, p.Stamp)
		if err != nil || moved == nil || moved.Stamp <= p.Stamp {
			t.Errorf("after a kabupaten moved: %v, %v (stamp was %d)", moved, err, p.Stamp)
		}
	}
}
