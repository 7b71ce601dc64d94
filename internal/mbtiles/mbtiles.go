// Package mbtiles writes vector tiles as an MBTiles 1.3 file: an SQLite
// database with a metadata table (name, format=pbf, bounds, center, minzoom,
// maxzoom and the json row whose vector_layers GDAL, QGIS and ODK Collect
// read) and a tiles table keyed by zoom, column and TMS row (y counted from
// the south), each tile gzip-compressed as the specification asks of pbf.
// It is this project's only use of SQLite (modernc.org/sqlite, pure Go).
package mbtiles

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Metadata describes the tileset.
type Metadata struct {
	Name, Description, Attribution string
	MinZoom, MaxZoom               int
	Bounds                         [4]float64 // min lon, min lat, max lon, max lat
	// VectorLayers are the layers the tiles hold: id, fields (name ->
	// String, Number or Boolean), minzoom, maxzoom.
	VectorLayers []map[string]any
}

// Tile is one tile in XYZ addressing (y from the north), gzip-compressed.
type Tile struct {
	Z, X, Y int
	Gzip    []byte
}

// Writer adds tiles to a new MBTiles file in one transaction.
type Writer struct {
	db *sql.DB
	tx *sql.Tx
	st *sql.Stmt
	n  int
}

// Create creates path (it must not exist) with the tileset's metadata.
func Create(ctx context.Context, path string, m Metadata) (*Writer, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%s exists: choose a new file (an MBTiles is written whole)", path)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	w := &Writer{db: db}
	fail := func(err error) (*Writer, error) {
		db.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, q := range []string{
		`PRAGMA application_id = 0x4d504258`, // "MPBX", as the specification suggests
		`CREATE TABLE metadata (name text, value text)`,
		`CREATE UNIQUE INDEX name ON metadata (name)`,
		`CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)`,
		`CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fail(err)
		}
	}
	js, err := json.Marshal(map[string]any{"vector_layers": m.VectorLayers})
	if err != nil {
		return fail(err)
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }
	b := m.Bounds
	center := fmt.Sprintf("%s,%s,%d", f((b[0]+b[2])/2), f((b[1]+b[3])/2), (m.MinZoom+m.MaxZoom)/2)
	for _, kv := range [][2]string{
		{"name", m.Name}, {"format", "pbf"}, {"type", "overlay"}, {"version", "1"},
		{"description", m.Description}, {"attribution", m.Attribution},
		{"minzoom", strconv.Itoa(m.MinZoom)}, {"maxzoom", strconv.Itoa(m.MaxZoom)},
		{"bounds", f(b[0]) + "," + f(b[1]) + "," + f(b[2]) + "," + f(b[3])}, {"center", center},
		{"json", string(js)},
	} {
		if _, err := db.ExecContext(ctx, `INSERT INTO metadata (name, value) VALUES (?, ?)`, kv[0], kv[1]); err != nil {
			return fail(err)
		}
	}
	if w.tx, err = db.BeginTx(ctx, nil); err != nil {
		return fail(err)
	}
	if w.st, err = w.tx.PrepareContext(ctx, `INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?, ?, ?, ?)`); err != nil {
		return fail(err)
	}
	return w, nil
}

// Add writes one tile.
func (w *Writer) Add(ctx context.Context, t Tile) error {
	tms := (1 << t.Z) - 1 - t.Y
	if _, err := w.st.ExecContext(ctx, t.Z, t.X, tms, t.Gzip); err != nil {
		return err
	}
	w.n++
	return nil
}

// Tiles is the number of tiles added.
func (w *Writer) Tiles() int { return w.n }

// Close commits the tiles and closes the file.
func (w *Writer) Close() error {
	w.st.Close()
	err := w.tx.Commit()
	if cerr := w.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abort drops what was written; the caller removes the file.
func (w *Writer) Abort() {
	w.st.Close()
	w.tx.Rollback()
	w.db.Close()
}

// Read returns a tile's gzip bytes in XYZ addressing, for tests and tools.
func Read(ctx context.Context, path string, z, x, y int) ([]byte, map[string]string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	meta := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT name, value FROM metadata`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return nil, nil, err
		}
		meta[k] = v
	}
	rows.Close()
	var b []byte
	err = db.QueryRowContext(ctx, `SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?`, z, x, (1<<z)-1-y).Scan(&b)
	if err == sql.ErrNoRows {
		return nil, meta, nil
	}
	return b, meta, err
}
