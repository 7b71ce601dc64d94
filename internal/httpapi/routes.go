package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// routes is the API's table of contents.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	// HEAD is answered on every GET route (the body is dropped): GIS tools
	// probe with it.
	r.Use(middleware.GetHead, middleware.RequestID, s.observe, s.recoverer, s.sanitize, s.cors, middleware.Compress(1, // BestSpeed: level 5 cost 2x the query time on 2.5 MB of GeoJSON
		"application/json", "application/geo+json", "application/problem+json", "application/vnd.oai.openapi+json",
		"text/html", "text/csv"))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no such resource", "no route matches "+r.URL.Path, "")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, "method not allowed", r.Method+" is not allowed on "+r.URL.Path, "")
	})

	// Operations.
	r.Get("/healthz", handleHealthz())
	r.Get("/readyz", s.handleReadyz())
	r.Get("/metrics", s.metrics.handler(s.db))

	// OGC API - Features, Part 1: Core, GeoJSON, HTML, OpenAPI 3.0.
	r.Group(func(r chi.Router) {
		r.Use(s.timeout, s.throttle, s.authenticate)
		r.Get("/", s.handleLanding())
		r.Get("/conformance", s.handleConformance())
		r.Get("/api", s.handleAPI())
		r.Get("/collections", s.handleCollections())
		r.Get("/collections/{collection}", s.handleCollection())
		r.Get("/collections/{collection}/items", s.handleItems())
		r.Get("/collections/{collection}/items/{fid}", s.handleItem())

		// Aggregates for web maps and planners.
		r.Get("/aggregates/{level}", s.handleAggregates())
		r.Get("/villages/{code}/profile", s.handleVillageProfile())
		r.Get("/targets/villages", s.handleVillageTargets())
		r.Get("/targets/households", s.handleHouseholdTargets())
		r.Get("/calendar", s.handleCalendar())
		r.Get("/audit", s.handleAudit())
		r.Delete("/households/{uuid}", s.handleEraseHousehold())

		// Vector tiles built by PostGIS, and the map page.
		r.Get("/tiles/{file}", s.handleTileJSON())
		r.Get("/tiles/{collection}/{z}/{x}/{y}", s.handleTile())
	})
	r.Get("/map", s.handleMap())
	r.Handle("/static/*", s.handleStatic())
	return r
}
