package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/kesempatan/riskmap/internal/mbtiles"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// maxMBTiles bounds one export: a phone's map of a kabupaten at zoom 14 is
// some tens of thousands of tiles; more means the area or zoom is wrong.
const maxMBTiles = 200000

// exportWorkers is how many tiles an MBTiles export builds at a time.
var exportWorkers = max(2, runtime.NumCPU())

// buildPhoneTile returns one tile of the export, gzip-compressed: the
// layers that have something in it, one after the other (a vector tile is
// a list of layers); nil when none has.
func buildPhoneTile(ctx context.Context, db *postgres.DB, layers []*postgres.Collection, area string, households bool, z, x, y, month int) ([]byte, error) {
	var tile []byte
	for _, c := range layers {
		b, err := db.Tile(ctx, c, z, x, y, month)
		if err != nil {
			return nil, err
		}
		tile = append(tile, b...)
	}
	if households {
		b, err := db.HouseholdTile(ctx, []string{area}, z, x, y)
		if err != nil {
			return nil, err
		}
		tile = append(tile, b...)
	}
	if len(tile) == 0 {
		return nil, nil
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(tile)
	zw.Close()
	return gz.Bytes(), nil
}

// exportMBTiles writes one area's layers as an MBTiles file for ODK Collect
// and QGIS. Each tile holds the layers that have something in it, one
// after the other (a vector tile is a list of layers, so the tiles the
// database builds per layer are joined as they are).
func exportMBTiles(ctx context.Context, e *env, path, area string, minZoom, maxZoom, month int, households bool, keyFile string) error {
	if area == "" || !risk.ValidAreaCode(area) {
		return fmt.Errorf("export --mbtiles: --area must be a kabupaten, kecamatan or village code (got %q)", area)
	}
	if minZoom < 0 || maxZoom > 16 || minZoom > maxZoom || month < 1 || month > 12 {
		return fmt.Errorf("export --mbtiles: want 0 <= --minzoom <= --maxzoom <= 16 and --month 1..12")
	}
	if keyFile != "" && !households {
		return fmt.Errorf("export --mbtiles: --key-file is for --households")
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	ext, name, err := db.AreaExtent(ctx, area)
	if err != nil {
		return err
	}
	who := risk.Principal{Role: risk.RoleAdmin, Name: "console"}
	if households && keyFile != "" {
		key, err := readSecret("export", "key-file", keyFile)
		if err != nil {
			return err
		}
		if who, err = db.Authenticate(ctx, key); err != nil {
			return err
		}
		if !who.SeesHouseholds() || !who.Covers(area) {
			return fmt.Errorf("export --mbtiles: the key of %s (%s%s) may not carry the households of %s", who.Name, who.Role, areasText(who.Areas), area)
		}
	}
	total := 0
	for z := minZoom; z <= maxZoom; z++ {
		x0, y0 := postgres.LonLatToTile(ext[0], ext[3], z)
		x1, y1 := postgres.LonLatToTile(ext[2], ext[1], z)
		total += (x1 - x0 + 1) * (y1 - y0 + 1)
	}
	if total > maxMBTiles {
		return fmt.Errorf("export --mbtiles: %s at zooms %d-%d is %d tiles, more than %d: choose a smaller area or a lower --maxzoom", area, minZoom, maxZoom, total, maxMBTiles)
	}
	byID := map[string]*postgres.Collection{}
	for _, c := range postgres.Collections() {
		byID[c.ID] = c
	}
	layers := []*postgres.Collection{byID["kecamatan"], byID["villages"], byID["plantations"]}
	types := map[string]string{"string": "String", "integer": "Number", "number": "Number", "boolean": "Boolean"}
	var vector []map[string]any
	for _, c := range layers {
		fields := map[string]string{"id": "String"}
		for _, p := range postgres.TileFields(c) {
			fields[p.Name] = types[p.Type]
		}
		if c.Month != "" {
			fields["seasonal_score"] = "Number"
		}
		l := postgres.TileLayers[c.ID]
		vector = append(vector, map[string]any{"id": c.ID, "description": c.Description, "fields": fields,
			"minzoom": max(minZoom, l.MinZoom), "maxzoom": maxZoom})
	}
	const householdZoom = 13
	if households {
		vector = append(vector, map[string]any{"id": "households", "description": "household points of the area: personal data, staff only",
			"fields":  map[string]string{"id": "String", "programme_id": "String", "village_code": "String", "open_cases": "Number"},
			"minzoom": max(minZoom, householdZoom), "maxzoom": maxZoom})
	}
	version, err := db.DataVersion(ctx)
	if err != nil {
		return err
	}
	desc := fmt.Sprintf("%s (%s): villages, kecamatan and tobacco fields with their published figures; seasonal score of month %d; release %s.", name, area, month, postgres.ReleaseOf(version))
	if households {
		desc += " Includes household points: personal data, keep the file on programme phones only."
	}
	t0 := time.Now()
	w, err := mbtiles.Create(ctx, path, mbtiles.Metadata{Name: "riskmap " + name, Description: desc,
		Attribution: "Program Kesempatan; boundaries: wilayah_boundaries (MIT)", MinZoom: minZoom, MaxZoom: maxZoom, Bounds: ext, VectorLayers: vector})
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			w.Abort()
			os.Remove(path)
		}
	}()
	// Tiles are built by a few workers (each tile is the database's work:
	// with two cores, two queries at a time keep both busy) and written by
	// this goroutine, in one SQLite transaction.
	type job struct{ z, x, y int }
	type built struct {
		job
		gz  []byte
		err error
	}
	jobs, results := make(chan job), make(chan built)
	buildCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < exportWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				gz, err := buildPhoneTile(buildCtx, db, layers, area, households && j.z >= householdZoom, j.z, j.x, j.y, month)
				select {
				case results <- built{j, gz, err}:
				case <-buildCtx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for z := minZoom; z <= maxZoom; z++ {
			x0, y0 := postgres.LonLatToTile(ext[0], ext[3], z)
			x1, y1 := postgres.LonLatToTile(ext[2], ext[1], z)
			for x := x0; x <= x1; x++ {
				for y := y0; y <= y1; y++ {
					select {
					case jobs <- job{z, x, y}:
					case <-buildCtx.Done():
						return
					}
				}
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	for r := range results {
		if r.err != nil {
			cancel()
			for range results { // let the workers finish
			}
			return r.err
		}
		if r.gz == nil {
			continue
		}
		if err := w.Add(ctx, mbtiles.Tile{Z: r.z, X: r.x, Y: r.y, Gzip: r.gz}); err != nil {
			cancel()
			for range results {
			}
			return err
		}
	}
	n := w.Tiles()
	if err := w.Close(); err != nil {
		return err
	}
	ok = true
	if households {
		points, err := db.HouseholdPoints(ctx, []string{area})
		if err != nil {
			return err
		}
		if err := db.Audit(ctx, who, "cli: export --mbtiles households", map[string][]string{"area": {area}, "file": {path}}, points); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "with %d household points (staff only; audited)\n", points)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s (%s), %d tiles, zoom %d-%d, %.1f MB, in %.1f s\n", path, name, area, n, minZoom, maxZoom, float64(st.Size())/1e6, time.Since(t0).Seconds())
	return nil
}
