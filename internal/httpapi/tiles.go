package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// tileCollection returns a collection served as tiles, or a 404.
func (s *Server) tileCollection(r *http.Request, id string) (*postgres.Collection, error) {
	if _, ok := postgres.TileLayers[id]; ok {
		if c := s.collection(r, id); c != nil {
			return c, nil
		}
	}
	return nil, errStatus(http.StatusNotFound, "no such tile layer", "tile layers: kabupaten, kecamatan, villages, plantations, hotspots", "collection")
}

// handleTile serves /tiles/{collection}/{z}/{x}/{y}.mvt?month=M.
func (s *Server) handleTile() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.tileCollection(r, chi.URLParam(r, "collection"))
		if err != nil {
			return err
		}
		yname, ok := strings.CutSuffix(chi.URLParam(r, "y"), ".mvt")
		z, errZ := strconv.Atoi(chi.URLParam(r, "z"))
		x, errX := strconv.Atoi(chi.URLParam(r, "x"))
		y, errY := strconv.Atoi(yname)
		if !ok || errZ != nil || errX != nil || errY != nil {
			return badParam("z/x/y", "want whole numbers, as /tiles/%s/8/213/134.mvt", c.ID)
		}
		if err := postgres.CheckTile(z, x, y); err != nil {
			return badParam("z/x/y", "%s", err.Error())
		}
		// Under a layer's first zoom its tiles are empty whatever the data
		// (catalog.TileLayers): no version, no coverage, no query.
		if z < postgres.TileLayers[c.ID].MinZoom {
			return s.writeGzipped(w, r, "application/vnd.mapbox-vector-tile", nil)
		}
		month := intQuery(r.URL.Query(), "month", 0) // checked by the route's guard
		if done, err := s.notModified(w, r, "mvt"); done || err != nil {
			return err
		}
		// Tiles are public and change only with the data version: the
		// encoded tile is kept, compressed, under the version it was built
		// from, and served again with no query at all.
		v, err := s.version.get(r.Context())
		if err != nil {
			return err
		}
		// A tile away from every area (the sea, most of a country's map) is
		// empty without a query: the layer's coverage says so.
		covered, at := s.coverage.covered(s, v, c, z, x, y)
		at.Generation = postgres.GenerationOf(v)
		if !covered {
			return s.writeGzipped(w, r, "application/vnd.mapbox-vector-tile", nil)
		}
		key := v + "|" + c.ID + "|" + strconv.Itoa(z) + "/" + strconv.Itoa(x) + "/" + strconv.Itoa(y) + "|" + strconv.Itoa(month)
		gz, ok := s.tiles.get(key)
		var raw []byte // the tile as PostGIS built it for this request
		if !ok {
			// A low-zoom tile of an area layer was rendered when the
			// release was published (postgres.RenderTiles): read back by
			// key, if it was rendered from the state this version names.
			if postgres.Rendered(c, z) {
				if gz, ok, err = s.db.RenderedTile(r.Context(), c, z, x, y, month, postgres.GenerationOf(v)); err != nil {
					return err
				}
			}
			if !ok {
				b, moved, err := s.db.TileAt(r.Context(), c, z, x, y, month, at)
				if err != nil {
					return err
				}
				if moved {
					s.metrics.moved.Inc()
					s.coverage.forget(coverageLayer(c))
				}
				raw = b
				// Compressed for the cache and for a client that takes
				// gzip; a client that does not, with the cache off, gets
				// the tile as built, with no compression to undo.
				if s.tiles.enabled() || acceptsGzip(r) {
					gz = keptTile(b)
				}
			}
			s.tiles.put(key, gz)
		}
		if raw != nil && !acceptsGzip(r) {
			return writeIdentity(w, "application/vnd.mapbox-vector-tile", raw)
		}
		return s.writeGzipped(w, r, "application/vnd.mapbox-vector-tile", gz)
	}
}

// acceptsGzip reports whether the client takes gzip (Accept-Encoding, with
// a q-value above zero).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") || strings.TrimSpace(name) == "*" {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// handleTileJSON serves /tiles/{collection}.json (TileJSON 3.0.0).
func (s *Server) handleTileJSON() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, ok := strings.CutSuffix(chi.URLParam(r, "file"), ".json")
		if !ok {
			return errStatus(http.StatusNotFound, "no such resource", "TileJSON is at /tiles/{collection}.json, the OGC API - Tiles tileset at /tiles/{collection}.tileset.json", "")
		}
		id, tileset := strings.CutSuffix(id, ".tileset")
		c, err := s.tileCollection(r, id)
		if err != nil {
			return err
		}
		if done, err := s.notModified(w, r, "tilejson"); done || err != nil {
			return err
		}
		zooms := postgres.TileLayers[c.ID]
		fields := map[string]string{"id": "String"}
		for _, p := range postgres.TileFields(c) {
			fields[p.Name] = map[string]string{"string": "String", "integer": "Number", "number": "Number", "boolean": "Boolean"}[p.Type]
		}
		if c.Month != "" {
			fields["seasonal_score"] = "Number (with ?month=1..12)"
		}
		doc := map[string]any{
			"tilejson": "3.0.0", "name": c.Title, "description": c.Description, "scheme": "xyz",
			"version": "1.0.0", "release": w.Header().Get(ReleaseHeader),
			"tiles":   []string{s.base + "/tiles/" + c.ID + "/{z}/{x}/{y}.mvt"},
			"minzoom": zooms.MinZoom, "maxzoom": zooms.MaxZoom,
			"vector_layers": []map[string]any{{"id": c.ID, "description": c.Description, "fields": fields,
				"minzoom": zooms.MinZoom, "maxzoom": zooms.MaxZoom}},
		}
		bbox, has, err := s.db.Extent(r.Context(), &postgres.ItemsQuery{Collection: c})
		if err != nil {
			return err
		}
		if has {
			doc["bounds"] = bbox
			doc["center"] = []float64{(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2, float64(max(zooms.MinZoom, 10))}
		}
		if tileset {
			// OGC API - Tiles: a tileset description, in Web Mercator, with
			// the data's bounds so clients do not assume the whole world.
			props := map[string]any{}
			for name, t := range fields {
				props[name] = map[string]string{"type": strings.ToLower(strings.Fields(t)[0])}
			}
			ts := map[string]any{
				"title": c.Title, "description": c.Description, "dataType": "vector",
				"crs": "http://www.opengis.net/def/crs/EPSG/0/3857", "tileMatrixSetURI": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
				"links": []map[string]any{
					{"rel": "self", "type": typeJSON, "href": s.base + "/tiles/" + c.ID + ".tileset.json"},
					{"rel": "item", "type": "application/vnd.mapbox-vector-tile", "templated": true, "href": s.base + "/tiles/" + c.ID + "/{tileMatrix}/{tileCol}/{tileRow}.mvt"},
					{"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "href": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"},
				},
				"layers": []map[string]any{{"id": c.ID, "dataType": "vector", "geometryDimension": 2, "minTileMatrix": strconv.Itoa(zooms.MinZoom),
					"maxTileMatrix": strconv.Itoa(zooms.MaxZoom), "propertiesSchema": map[string]any{"type": "object", "properties": props}}},
			}
			if has {
				ts["boundingBox"] = map[string]any{"lowerLeft": []float64{bbox[0], bbox[1]}, "upperRight": []float64{bbox[2], bbox[3]}, "crs": CRS84}
			}
			w.Header().Set("Content-Type", typeJSON)
			_ = json.NewEncoder(w).Encode(ts)
			return nil
		}
		w.Header().Set("Content-Type", typeJSON)
		_ = json.NewEncoder(w).Encode(doc)
		return nil
	}
}

// handleCalendar serves the labour-demand index per variety that the latest
// scoring run used, for the map's month slider.
func (s *Server) handleCalendar() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if done, err := s.notModified(w, r, "json"); done || err != nil {
			return err
		}
		b, err := s.db.Calendar(r.Context())
		if err != nil {
			return err
		}
		return s.writeRawJSON(w, r, "Labour calendar", b)
	}
}

// coverage keeps, per data version, each area layer's tile coverage
// (postgres.TileCoverage), exact at the zooms the layer is cut at (its
// postgres.PieceSet). It is computed in the background the first time a
// version is asked for; until it is ready every tile is queried. It
// depends on the areas' outlines alone, so a new version whose pieces'
// stamp has not moved (a scoring run, an import of households) takes the
// previous version's coverage after one small query.
type coverage struct {
	mu      sync.Mutex
	version string
	layers  map[string]*postgres.Coverage // nil entry: being computed
	latest  map[string]*postgres.Coverage // the newest computed, of any version
}

// coverageLayer is the tile_geom layer of a collection whose tiles hold
// only its areas, or "".
func coverageLayer(c *postgres.Collection) string {
	switch c.TileLayer {
	case "desa", "kecamatan", "kabupaten":
		return c.TileLayer
	}
	return ""
}

// covered reports whether tile z/x/y of c may hold anything under data
// version v: true unless the layer's coverage is known and says no; and,
// when it is known, where the tile's pieces lie.
func (cv *coverage) covered(s *Server, v string, c *postgres.Collection, z, x, y int) (bool, postgres.Where) {
	layer := coverageLayer(c)
	if layer == "" {
		return true, postgres.Where{}
	}
	cv.mu.Lock()
	if cv.version != v {
		cv.version, cv.layers = v, map[string]*postgres.Coverage{}
	}
	set, ok := cv.layers[layer]
	if !ok {
		cv.layers[layer] = nil
		go cv.compute(s, v, layer, cv.latest[layer])
	}
	cv.mu.Unlock()
	// Spread over every zoom once: a lookup, outside the lock.
	if set == nil {
		return true, postgres.Where{}
	}
	return set.Covers(z, x, y), set.Where(z, x, y)
}

// forget drops layer's coverage, so that the next tile reads it again
// in full: where its pieces lie was not current (TileAt's moved).
func (cv *coverage) forget(layer string) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	delete(cv.latest, layer)
	if cv.layers != nil && cv.layers[layer] != nil {
		delete(cv.layers, layer)
	}
}

// compute reads layer's coverage for version v, unless the pieces are
// still those prev was computed from.
func (cv *coverage) compute(s *Server, v, layer string, prev *postgres.Coverage) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var have int64
	if prev != nil {
		have = prev.Stamp()
	}
	cov := prev
	pieces, err := s.db.TilePieceSet(ctx, layer, have)
	if err == nil && pieces != nil {
		var got map[uint32]struct{}
		if got, err = s.db.TileCoverage(ctx, layer); err == nil {
			cov = postgres.NewCoverage(got).WithPieces(pieces)
		}
	}
	cv.mu.Lock()
	defer cv.mu.Unlock()
	// Stamps only grow: a coverage computed later for an older version
	// never replaces a newer one.
	if err == nil && (cv.latest[layer] == nil || cov.Stamp() > cv.latest[layer].Stamp()) {
		if cv.latest == nil {
			cv.latest = map[string]*postgres.Coverage{}
		}
		cv.latest[layer] = cov
	}
	if cv.version != v {
		return
	}
	if err != nil {
		delete(cv.layers, layer) // asked again by the next tile
		return
	}
	cv.layers[layer] = cv.latest[layer]
}

// smallTile is the size under which a tile is kept and sent as built, not
// gzip-compressed: the deep tiles of the kabupaten and kecamatan layers
// hold one to three pieces in a few hundred bytes, and compressing them
// took 55 µs, as long as the client's side of the query that built them,
// to save a hundred bytes.
const smallTile = 1024

// keptTile is tile b as the cache keeps it and writeGzipped sends it:
// gzip-compressed, or as built when it is small. writeGzipped tells them
// apart by gzip's magic number (1f 8b), which a vector tile cannot begin
// with: its first byte is a protobuf key, and 0x1f would be field 3 with
// wire type 7, which protobuf does not define.
func keptTile(b []byte) []byte {
	if len(b) < smallTile {
		return b
	}
	return gzipBytes(b)
}
