package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/paulmach/orb"

	"github.com/kesempatan/riskmap/internal/fgb"
	"github.com/kesempatan/riskmap/internal/pmtiles"
	"github.com/kesempatan/riskmap/internal/postgres"
)

const exportSynopsis = `export --pmtiles DIR [--minzoom 6] [--maxzoom 14] [--month 8]
       riskmap export --mbtiles FILE --area CODE [--minzoom 10] [--maxzoom 14] [--month M]
                      [--households [--key-file FILE]]

Writes the public layers as static files, for any object store or CDN to
serve with no database behind them: villages.pmtiles and kecamatan.pmtiles
(PMTiles v3 vector tiles, the same tiles /tiles serves: gzip, MVT),
villages.geojson, kecamatan.geojson and kabupaten.geojson (the public
collections, as /collections/{id}/items serves them) and the same areas as
FlatGeobuf (.fgb, the tiles' scalar properties), with manifest.json
(the data version, the scoring run, whether the survey is synthetic, the
month). The tiles carry the seasonal score of one month, as /tiles?month=
does. Only published figures: nothing a planner's or staff key would add.
Run it after each scoring run; 'serve --pmtiles-url URL' makes the map page
read the archives from where they are served.

--mbtiles writes one area's map for a phone (ODK Collect's offline layers,
QGIS): an MBTiles file of vector tiles (format pbf, gzip) with the layers
villages, kecamatan and plantations (the tobacco fields) and their
published figures, over the area's extent, zooms --minzoom to --maxzoom;
the seasonal score is the month's (default: this month). --households adds
the household points of the area (card number, open cases): personal data,
for a staff key whose areas cover --area (--key-file) or the console; the
export is audited with the number of households it carries.`

func exportCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("export", exportSynopsis)
	dir := fs.String("pmtiles", "", "the folder to write (created if missing)")
	mbt := fs.String("mbtiles", "", "the MBTiles file to write for one area (--area)")
	area := fs.String("area", "", "with --mbtiles: the kabupaten, kecamatan or village code")
	households := fs.Bool("households", false, "with --mbtiles: add the area's household points (staff-only, audited)")
	keyFile := fs.String("key-file", "", "with --households: file holding a staff API key whose areas cover --area")
	minZoom := fs.Int("minzoom", 6, "lowest zoom to write (--mbtiles: default 10)")
	maxZoom := fs.Int("maxzoom", 14, "highest zoom to write (each zoom has four times the tiles of the one before)")
	month := fs.Int("month", 8, "the month whose seasonal score the tiles carry, 1-12 (the map colours by it; --mbtiles: default this month)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mbt != "" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["minzoom"] {
			*minZoom = 10
		}
		if !set["month"] {
			*month = int(time.Now().Month())
		}
		return exportMBTiles(ctx, e, *mbt, *area, *minZoom, *maxZoom, *month, *households, *keyFile)
	}
	if *dir == "" || *minZoom < 0 || *maxZoom > 16 || *minZoom > *maxZoom || *month < 1 || *month > 12 {
		fs.Usage()
		return fmt.Errorf("export: want --pmtiles DIR or --mbtiles FILE, 0 <= --minzoom <= --maxzoom <= 16 and --month 1..12")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	version, err := db.DataVersion(ctx)
	if err != nil {
		return err
	}
	run, err := db.LatestRun(ctx)
	if err != nil {
		return err
	}
	collections := map[string]*postgres.Collection{}
	for _, c := range postgres.Collections() {
		collections[c.ID] = c
	}
	manifest := map[string]any{"data_version": version, "release": postgres.ReleaseOf(version), "exported_at": time.Now().UTC().Format(time.RFC3339), "scoring_run": json.RawMessage(run), "month": *month, "files": map[string]any{}}
	files := manifest["files"].(map[string]any)
	for _, id := range []string{"villages", "kecamatan"} {
		c := collections[id]
		t0 := time.Now()
		st, err := exportTiles(ctx, db, c, filepath.Join(*dir, id+".pmtiles"), *minZoom, *maxZoom, *month, postgres.ReleaseOf(version))
		if err != nil {
			return fmt.Errorf("export %s: %w", id, err)
		}
		fmt.Fprintf(e.stdout, "wrote %s.pmtiles: %d tiles (%d stored once), %.1f MB, zoom %d-%d, in %.1f s\n", id, st.Addressed, st.Contents,
			float64(st.Bytes)/1e6, *minZoom, *maxZoom, time.Since(t0).Seconds())
		files[id+".pmtiles"] = map[string]any{"tiles": st.Addressed, "bytes": st.Bytes, "minzoom": *minZoom, "maxzoom": *maxZoom}
	}
	for _, id := range []string{"villages", "kecamatan", "kabupaten"} {
		n, size, err := exportGeoJSON(ctx, db, collections[id], filepath.Join(*dir, id+".geojson"))
		if err != nil {
			return fmt.Errorf("export %s: %w", id, err)
		}
		fmt.Fprintf(e.stdout, "wrote %s.geojson: %d features, %.1f MB\n", id, n, float64(size)/1e6)
		files[id+".geojson"] = map[string]any{"features": n, "bytes": size}
		n, size, err = exportFlatGeobuf(ctx, db, collections[id], filepath.Join(*dir, id+".fgb"))
		if err != nil {
			return fmt.Errorf("export %s: %w", id, err)
		}
		fmt.Fprintf(e.stdout, "wrote %s.fgb: %d features, %.1f MB\n", id, n, float64(size)/1e6)
		files[id+".fgb"] = map[string]any{"features": n, "bytes": size}
	}
	b, _ := json.MarshalIndent(manifest, "", "  ")
	return os.WriteFile(filepath.Join(*dir, "manifest.json"), append(b, '\n'), 0o644)
}

// exportTiles writes every non-empty tile of c over its extent, zooms
// minZoom to maxZoom, with the seasonal score of month, as one PMTiles
// archive.
func exportTiles(ctx context.Context, db *postgres.DB, c *postgres.Collection, path string, minZoom, maxZoom, month int, release string) (pmtiles.Stats, error) {
	ext, ok, err := db.Extent(ctx, &postgres.ItemsQuery{Collection: c})
	if err != nil || !ok {
		return pmtiles.Stats{}, fmt.Errorf("no extent (%v): nothing to tile", err)
	}
	var tiles []pmtiles.Tile
	for z := minZoom; z <= maxZoom; z++ {
		// Where the layer's pieces are cut in advance, only the tiles that
		// hold pieces can hold anything; elsewhere every tile of the extent
		// is asked for.
		candidates, cut, err := db.PieceTiles(ctx, c.TileLayer, z)
		if err != nil {
			return pmtiles.Stats{}, err
		}
		if !cut {
			candidates = candidates[:0]
			x0, y0 := postgres.LonLatToTile(ext[0], ext[3], z)
			x1, y1 := postgres.LonLatToTile(ext[2], ext[1], z)
			for x := x0; x <= x1; x++ {
				for y := y0; y <= y1; y++ {
					candidates = append(candidates, [2]int{x, y})
				}
			}
		}
		for _, xy := range candidates {
			b, err := db.Tile(ctx, c, z, xy[0], xy[1], month)
			if err != nil {
				return pmtiles.Stats{}, err
			}
			if len(b) == 0 {
				continue
			}
			var gz bytes.Buffer
			w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
			w.Write(b)
			w.Close()
			tiles = append(tiles, pmtiles.Tile{Z: uint8(z), X: uint32(xy[0]), Y: uint32(xy[1]), Gzip: gz.Bytes()})
		}
	}
	fields := map[string]string{}
	for _, p := range postgres.TileFields(c) {
		fields[p.Name] = map[string]string{"string": "String", "integer": "Number", "number": "Number", "boolean": "Boolean"}[p.Type]
	}
	meta := map[string]any{"name": "riskmap " + c.ID, "description": c.Description + ". Published figures only; see manifest.json for the scoring run and whether its survey is synthetic.",
		"release":     release,
		"attribution": "Program Kesempatan; boundaries: wilayah_boundaries (MIT)", "vector_layers": []any{pmtiles.VectorLayer(c.ID, fields, minZoom, maxZoom)}}
	f, err := os.Create(path)
	if err != nil {
		return pmtiles.Stats{}, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	st, err := pmtiles.Write(bw, pmtiles.Archive{MinZoom: uint8(minZoom), MaxZoom: uint8(maxZoom), MinLon: ext[0], MinLat: ext[1], MaxLon: ext[2], MaxLat: ext[3], Metadata: meta}, tiles)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return st, err
}

// exportFlatGeobuf writes a public area collection as FlatGeobuf, with
// the scalar properties its tiles carry (no per-month columns).
func exportFlatGeobuf(ctx context.Context, db *postgres.DB, c *postgres.Collection, path string) (int, int64, error) {
	props, feats, err := db.AreaFeatures(ctx, c)
	if err != nil {
		return 0, 0, err
	}
	types := map[string]fgb.ColumnType{"string": fgb.String, "integer": fgb.Long, "number": fgb.Double, "boolean": fgb.Bool}
	h := fgb.Header{Name: c.ID, Title: c.Title, Description: c.Description + ". Published figures only; see manifest.json for the scoring run and whether its survey is synthetic.",
		Geometry: orb.MultiPolygon{}, EPSG: 4326}
	for _, p := range props {
		h.Columns = append(h.Columns, fgb.Column{Name: p.Name, Description: p.Description, Type: types[p.Type]})
	}
	out := make([]fgb.Feature, len(feats))
	for i, f := range feats {
		out[i] = fgb.Feature{Geometry: f.Geom, Values: f.Values}
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	cw := &countWriter{w: bufio.NewWriterSize(f, 1<<20)}
	err = fgb.Write(cw, h, out)
	if err == nil {
		err = cw.w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return len(out), cw.n, err
}

// exportGeoJSON writes a public collection whole, as the OGC API serves it.
func exportGeoJSON(ctx context.Context, db *postgres.DB, c *postgres.Collection, path string) (int, int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	cw := &countWriter{w: bufio.NewWriterSize(f, 1<<20)}
	io.WriteString(cw, `{"type":"FeatureCollection","features":[`)
	p, err := db.StreamPage(ctx, &postgres.ItemsQuery{Collection: c, Limit: 1 << 30}, func() io.Writer { return cw })
	if err != nil {
		return 0, 0, err
	}
	io.WriteString(cw, "]}\n")
	if err := cw.w.Flush(); err != nil {
		return 0, 0, err
	}
	return p.N, cw.n, nil
}

type countWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
