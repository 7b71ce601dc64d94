// Package httpapi is riskmap's HTTP interface on chi: OGC API - Features for
// GIS tools, JSON aggregates for web maps, health and metrics, and RFC 9457
// problem responses. Every route is listed in routes.go.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Options configure the server.
type Options struct {
	// CORSOrigins may read the API from a browser; "*" allows any.
	CORSOrigins []string
	// RequestTimeout bounds every request, and its database queries.
	RequestTimeout time.Duration
	// BasemapURL is an XYZ raster tile URL template for the map page's
	// background; empty: a plain background, no network beyond the service.
	BasemapURL string
	// PMTilesURL is the folder where the files of riskmap export --pmtiles
	// are served (an object store, a CDN, any static host): the map page
	// then draws villages and kecamatan from its archives, with the month
	// they were exported for, and asks the service only for panels and
	// rankings. Empty: tiles come from /tiles.
	PMTilesURL string
	// RatePerMinute limits requests per API key, or per client address for
	// the public; 0 turns the limit off.
	RatePerMinute int
	// PublicURL is the scheme, host and path prefix clients reach the
	// service at (e.g. https://riskmap.example.org): every link is built
	// from it, never from the request's Host header, which a client (or a
	// cache in front of us) could set. Empty: links are root-relative.
	PublicURL string
	// TileCacheBytes bounds the in-process cache of encoded, compressed
	// tiles (0: DefaultTileCacheBytes; negative: no cache).
	TileCacheBytes int64
	// PageCacheBytes bounds the in-process cache of public GeoJSON pages
	// (0: DefaultPageCacheBytes; negative: no cache). Pages of household
	// data are never kept.
	PageCacheBytes int64
}

// DefaultPageCacheBytes is the page cache's default bound: the 783 real
// villages whole, every property, are 0.5 MB compressed.
const DefaultPageCacheBytes = 32 << 20

// DefaultTileCacheBytes is the tile cache's default bound: every tile of
// the real villages from zoom 7 to 14 with room to spare (docs/performance.md).
const DefaultTileCacheBytes = 64 << 20

// Server holds the dependencies of the handlers.
type Server struct {
	db          Store
	pool        *postgres.DB // for the pool's metrics; nil over a fake store
	log         *slog.Logger
	opt         Options
	collections []*postgres.Collection
	masked      *postgres.Collection // households as planners see them
	metrics     *metrics
	limit       *limiter
	failures    *limiter // failed authentications per client address
	base        string   // Options.PublicURL without a trailing slash
	version     *version
	tiles       *byteCache
	coverage    coverage // where the area layers' tiles can hold anything
	pages       *byteCache
	counts      *countCache
	// the map page's opening extent, per data version (mapBounds)
	boundsMu              sync.Mutex
	bounds, boundsVersion string
}

// NewServer returns a server over db that logs to log.
func NewServer(db *postgres.DB, log *slog.Logger, opt ...Options) *Server {
	s := newServer(db, log, opt...)
	s.pool = db
	return s
}

// newServer returns a server over any store: the fast tests give a fake.
func newServer(db Store, log *slog.Logger, opt ...Options) *Server {
	s := &Server{db: db, log: log, metrics: newMetrics()}
	if len(opt) > 0 {
		s.opt = opt[0]
	}
	if s.opt.RequestTimeout == 0 {
		s.opt.RequestTimeout = 2 * time.Minute
	}
	s.limit = newLimiter(s.opt.RatePerMinute)
	s.failures = newLimiter(FailedAuthPerMinute)
	s.base = strings.TrimRight(s.opt.PublicURL, "/")
	s.collections = postgres.Collections()
	s.masked = postgres.MaskedHouseholds()
	s.version = &version{read: db.DataVersion}
	size := s.opt.TileCacheBytes
	if size == 0 {
		size = DefaultTileCacheBytes
	}
	s.tiles = newByteCache("tile", "Tiles", size, s.metrics.reg)
	pages := s.opt.PageCacheBytes
	if pages == 0 {
		pages = DefaultPageCacheBytes
	}
	s.pages = newByteCache("page", "Public GeoJSON pages", pages, s.metrics.reg)
	s.counts = newCountCache(4096)
	s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "riskmap_tile_layers_ready",
		Help: "Tile collections over areas (kabupaten, kecamatan, villages, hotspots) whose coverage and tile properties the service holds for the data version it last served (4 when all are): until then their tiles are built the slower way."},
		s.tileLayersReady))
	return s
}

// tileLayersReady counts the tile collections over areas whose coverage is computed for
// the data version the coverage last saw and, if they have tile
// properties, whose properties have been read into memory (or found not
// written yet).
func (s *Server) tileLayersReady() float64 {
	s.coverage.mu.Lock()
	defer s.coverage.mu.Unlock()
	n := 0
	for _, c := range s.collections {
		if l := coverageLayer(c); l != "" && s.coverage.layers[l] != nil && (!postgres.HasTileProps(c) || propsRead(s.db, c.ID)) {
			n++
		}
	}
	return float64(n)
}

func propsRead(db Store, id string) bool {
	_, read := db.TilePropsInMemory(id)
	return read
}

// WarmTiles starts reading the area layers' tile coverage for the current
// data version, and their tile properties, in the background, so the first
// tiles after a start are not built while they are read (serve calls it
// once it listens).
func (s *Server) WarmTiles(ctx context.Context) {
	v, err := s.version.get(ctx)
	if err != nil {
		return
	}
	for _, c := range s.collections {
		s.coverage.covered(s, v, c, 0, 0, 0)
		s.db.WarmTileProps(c)
	}
}

// Handler returns the router with every route.
func (s *Server) Handler() http.Handler { return s.routes() }

// visible returns the collections the requester may see: household-level
// collections only for staff and admin keys.
func (s *Server) visible(r *http.Request) []*postgres.Collection {
	p := principal(r)
	var out []*postgres.Collection
	for _, c := range s.collections {
		switch {
		case !c.Private || p.Households() == risk.ExactHouseholds:
			out = append(out, c)
		case p.Households() == risk.MaskedHouseholds && c.ID == "households":
			out = append(out, s.masked)
		}
	}
	return out
}

// collection returns a collection the requester may see, or nil: to anyone
// else a private collection does not exist.
func (s *Server) collection(r *http.Request, id string) *postgres.Collection {
	for _, c := range s.visible(r) {
		if c.ID == id {
			return c
		}
	}
	return nil
}
