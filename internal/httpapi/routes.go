package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// route is one entry of the API's table of contents: what is served, and
// how /api documents it. routes() registers exactly these, and openAPI()
// documents exactly these, so the two cannot drift (a test walks chi's
// routes and checks each one is in /api).
type route struct {
	method, pattern string
	handler         apiHandler
	group           string // "ops": no key, no limit; "api": timeout, rate limit, keys; "page": static
	summary, id     string
	params          []paramSpec
	responses       obj
	// collection: the pattern holds {collection}; /api lists it once per
	// collection, with that collection's parameters.
	collection bool
	// access: who may call it (nil: anyone with a valid key or none).
	access access
	// audit: which answers must be in the audit log before they are sent.
	audit auditRule
	// openQuery: the guard does not check the query: a collection's
	// parameters are checked by their own parser (parseItems), and the OGC
	// discovery documents ignore what GIS clients add to them.
	openQuery bool
}

func fParam(formats ...string) paramSpec {
	return param("f", "query", "response format (default by Accept header, else the first)", obj{"type": "string", "enum": formats}, false)
}

func monthParam(required bool) paramSpec {
	return param("month", "query", "month 1-12", obj{"type": "integer", "minimum": 1, "maximum": 12}, required)
}

var (
	okJSON     = obj{"200": jsonResponse("the document", typeJSON, obj{"type": "object"}), "400": problemResponse}
	okNotFound = obj{"200": jsonResponse("the document", typeJSON, obj{"type": "object"}), "400": problemResponse, "404": problemResponse}
)

// routeTable is every route riskmap serves.
func (s *Server) routeTable() []route {
	limit := param("limit", "query", "how many", obj{"type": "integer", "minimum": 1, "maximum": MaxLimit, "default": 20}, false)
	return []route{
		// Operations.
		{method: "GET", pattern: "/healthz", handler: plain(handleHealthz()), group: "ops", summary: "the process is alive", id: "getHealth",
			responses: obj{"200": jsonResponse("alive", typeJSON, obj{"type": "object"})}},
		{method: "GET", pattern: "/readyz", handler: plain(s.handleReadyz()), group: "ops", summary: "the database answers and the schema is current", id: "getReady",
			responses: obj{"200": jsonResponse("ready", typeJSON, obj{"type": "object"}), "503": problemResponse}},
		{method: "GET", pattern: "/metrics", handler: plain(s.metrics.handler(s.pool)), group: "ops", summary: "Prometheus metrics", id: "getMetrics",
			responses: obj{"200": obj{"description": "metrics", "content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}}}},

		// OGC API - Features: Part 1 (core, GeoJSON, HTML, OpenAPI), Part 2 (CRS), Part 3 (filtering).
		{method: "GET", pattern: "/", handler: s.handleLanding(), group: "api", openQuery: true, summary: "landing page", id: "getLandingPage",
			params: []paramSpec{fParam("json", "html")}, responses: okJSON},
		{method: "GET", pattern: "/conformance", handler: s.handleConformance(), group: "api", openQuery: true, summary: "conformance classes", id: "getConformance",
			params: []paramSpec{fParam("json", "html")}, responses: okJSON},
		{method: "GET", pattern: "/api", handler: s.handleAPI(), group: "api", openQuery: true, summary: "this API definition", id: "getAPI",
			responses: obj{"200": jsonResponse("OpenAPI 3.0", typeOpenAPI, obj{"type": "object"})}},
		{method: "GET", pattern: "/collections", handler: s.handleCollections(), group: "api", openQuery: true, summary: "feature collections", id: "getCollections",
			params: []paramSpec{fParam("json", "html")}, responses: okJSON},
		{method: "GET", pattern: "/collections/{collection}", handler: s.handleCollection(), group: "api", collection: true, openQuery: true,
			summary: "the collection", id: "describe", params: []paramSpec{fParam("json", "html")}, responses: okNotFound},
		{method: "GET", pattern: "/collections/{collection}/queryables", handler: s.handleQueryables(), group: "api", collection: true, openQuery: true,
			summary: "what a filter may name: a JSON Schema", id: "getQueryables", params: []paramSpec{fParam("json", "html")},
			responses: obj{"200": jsonResponse("queryables", "application/schema+json", obj{"type": "object"}), "404": problemResponse}},
		{method: "GET", pattern: "/collections/{collection}/items", handler: s.handleItems(), group: "api", collection: true, openQuery: true, audit: auditPrivate,
			summary: "features", id: "getItems"},
		{method: "GET", pattern: "/collections/{collection}/items/{fid}", handler: s.handleItem(), group: "api", collection: true, openQuery: true, audit: auditPrivate,
			summary: "one feature", id: "getItem"},

		// Aggregates for web maps and planners.
		{method: "GET", pattern: "/aggregates/{level}", handler: s.handleAggregates(), group: "api", summary: "area scores of one level", id: "getAggregates",
			params: []paramSpec{param("level", "path", "desa, kecamatan or kabupaten", obj{"type": "string", "enum": []string{"desa", "kecamatan", "kabupaten"}}, true),
				param("parent", "query", "only areas within this code", obj{"type": "string"}, false), fParam("json", "html", "csv")},
			responses: obj{"200": jsonResponse("area scores", typeJSON, obj{"type": "array"}), "400": problemResponse}},
		{method: "GET", pattern: "/villages/{code}/profile", handler: s.handleVillageProfile(), group: "api", summary: "a village's risk profile", id: "getVillageProfile",
			params: []paramSpec{param("code", "path", "desa code, e.g. 35.13.13.2003", obj{"type": "string"}, true), fParam("json", "html")}, responses: okNotFound},
		{method: "GET", pattern: "/targets/villages", handler: s.handleVillageTargets(), group: "api", summary: "villages ranked by seasonal risk", id: "getVillageTargets",
			params: []paramSpec{monthParam(true), param("area", "query", "kabupaten, kecamatan or desa code", obj{"type": "string"}, false), limit,
				param("top", "query", "the length of the list whose membership p_top gives (default 10)", obj{"type": "integer", "minimum": 1, "maximum": 1000}, false), fParam("json", "html", "csv")},
			responses: okJSON},
		{method: "GET", pattern: "/targets/survey-plan", handler: s.handleSurveyPlan(), group: "api", summary: "where to survey next so that the top-K villages become more certain", id: "getSurveyPlan",
			params: []paramSpec{monthParam(true), param("households", "query", "households to survey (10-1000000)", obj{"type": "integer", "minimum": 10, "maximum": 1000000}, true),
				param("top", "query", "K: the length of the list to make certain (default 10)", obj{"type": "integer", "minimum": 1, "maximum": 1000}, false),
				param("area", "query", "kabupaten, kecamatan or desa code", obj{"type": "string"}, false), fParam("json", "html")},
			responses: okJSON},
		{method: "GET", pattern: "/targets/households", handler: s.handleHouseholdTargets(), group: "api", access: householders, audit: auditAlways,
			summary: "staff and admins: households ranked by seasonal risk within the key's areas (audited)", id: "getHouseholdTargets",
			params: []paramSpec{monthParam(true), param("area", "query", "kecamatan or desa code within the key's areas", obj{"type": "string"}, false).scoped(),
				param("limit", "query", "how many", obj{"type": "integer", "minimum": 1, "maximum": MaxLimit, "default": 50}, false), fParam("json", "html")},
			responses: obj{"200": jsonResponse("ranked households", typeJSON, obj{"type": "object"}), "400": problemResponse, "401": problemResponse, "404": problemResponse}},
		// The CLMRS cycle: survey rounds, cases, visits, the published pipeline.
		{method: "GET", pattern: "/rounds", handler: s.handleRounds(), group: "api", summary: "survey rounds: dates, rounded sizes and the round the map shows", id: "getRounds",
			params: []paramSpec{fParam("json", "html")}, responses: okJSON},
		{method: "GET", pattern: "/pipeline/{level}", handler: s.handlePipeline(), group: "api",
			summary: "children with a CLMRS case by status per area, published with small counts withheld", id: "getPipeline",
			params: []paramSpec{param("level", "path", "kecamatan or kabupaten", obj{"type": "string", "enum": []string{"kecamatan", "kabupaten"}}, true),
				param("parent", "query", "only areas within this code", obj{"type": "string"}, false), fParam("json", "html", "csv")},
			responses: obj{"200": jsonResponse("the pipeline", typeJSON, obj{"type": "object"}), "400": problemResponse}},
		{method: "GET", pattern: "/cases", handler: s.handleCases(), group: "api", access: householders, audit: auditAlways,
			summary: "staff and admins: CLMRS cases within the key's areas, the most overdue first (audited)", id: "getCases",
			params: []paramSpec{param("status", "query", "comma-separated statuses", obj{"type": "string"}, false),
				param("due_before", "query", "open cases due before this date (YYYY-MM-DD)", obj{"type": "string", "format": "date"}, false),
				param("area", "query", "kecamatan or desa code within the key's areas", obj{"type": "string"}, false).scoped(),
				param("open", "query", "only open cases", obj{"type": "boolean"}, false),
				param("limit", "query", "how many", obj{"type": "integer", "minimum": 1, "maximum": MaxLimit, "default": 1000}, false), fParam("json", "html", "csv")},
			responses: obj{"200": jsonResponse("cases", typeJSON, obj{"type": "object"}), "400": problemResponse, "401": problemResponse, "404": problemResponse}},
		{method: "GET", pattern: "/cases/{id}", handler: s.handleCase(), group: "api", access: householders, audit: auditAlways, summary: "staff and admins: one case and its visits (audited)", id: "getCase",
			params: []paramSpec{param("id", "path", "case number", obj{"type": "integer"}, true), fParam("json", "html")}, responses: okNotFound},
		{method: "POST", pattern: "/cases/{id}/visits", handler: s.handleAddVisit(), group: "api", access: householders, audit: auditAlways,
			summary: "staff in the case's areas: record a visit (the visit form's questions as JSON; Idempotency-Key header required; audited)", id: "addVisit",
			params: []paramSpec{param("id", "path", "case number", obj{"type": "integer"}, true),
				param("Idempotency-Key", "header", "a key unique to this visit: resending the same visit with it records it once", obj{"type": "string"}, true)},
			responses: obj{"201": jsonResponse("recorded; the case as it now stands", typeJSON, obj{"type": "object"}),
				"200": jsonResponse("already recorded with this Idempotency-Key", typeJSON, obj{"type": "object"}),
				"400": problemResponse, "404": problemResponse, "409": problemResponse}},
		{method: "GET", pattern: "/labels/{level}", handler: s.handleLabels(), group: "api", summary: "a point inside each village or kecamatan, with its name, for map labels and search", id: "getLabels",
			params: []paramSpec{param("level", "path", "desa or kecamatan", obj{"type": "string", "enum": []string{"desa", "kecamatan"}}, true),
				param("bbox", "query", "only labels inside minLon,minLat,maxLon,maxLat (WGS 84)", obj{"type": "string"}, false),
				param("q", "query", "only areas whose name contains this text (any case) or whose code starts with it", obj{"type": "string", "maxLength": 100}, false),
				param("limit", "query", "at most this many labels (default: all)", obj{"type": "integer", "minimum": 1, "maximum": MaxLimit}, false), fParam("json")},
			responses: obj{"200": okJSON["200"], "400": problemResponse}},
		{method: "GET", pattern: "/report/{level}/{code}", handler: s.handleReport(), group: "api", summary: "an A4 report of a village or kecamatan, to print or save as PDF (Bahasa Indonesia)", id: "getReport",
			params: []paramSpec{param("level", "path", "desa or kecamatan", obj{"type": "string", "enum": []string{"desa", "kecamatan"}}, true),
				param("code", "path", "Kemendagri code", obj{"type": "string"}, true), monthParam(false)},
			responses: obj{"200": obj{"description": "the report page", "content": obj{"text/html": obj{"schema": obj{"type": "string"}}}}, "404": problemResponse}},
		{method: "GET", pattern: "/releases", handler: s.handleReleases(), group: "api",
			summary: "the ledger of releases: each publication's number, date, scoring run, rule, table hashes, and the areas it changed; the newest first", id: "getReleases",
			params: []paramSpec{limit, fParam("json", "html")}, responses: okJSON},
		{method: "GET", pattern: "/run", handler: s.handleRun(), group: "api", summary: "the scoring run behind the figures: when, which model, and whether the survey data is synthetic", id: "getRun",
			params: []paramSpec{fParam("json", "html")}, responses: okJSON},
		{method: "GET", pattern: "/calendar", handler: s.handleCalendar(), group: "api", summary: "the labour calendar of each tobacco variety", id: "getCalendar",
			params: []paramSpec{fParam("json", "html")}, responses: okJSON},
		{method: "GET", pattern: "/audit", handler: s.handleAudit(), group: "api", access: admins, summary: "admins: the log of household-level responses", id: "getAudit",
			params: []paramSpec{param("since", "query", "how far back, e.g. 24h", obj{"type": "string"}, false)}, responses: okNotFound},
		{method: "DELETE", pattern: "/households/{uuid}", handler: s.handleEraseHousehold(), group: "api", access: admins,
			summary: "admins: erase a household and everything keyed by it (consent withdrawn); the erasure is recorded without the uuid", id: "eraseHousehold",
			params: []paramSpec{param("uuid", "path", "the household's survey uuid", obj{"type": "string"}, true),
				param("reason", "query", "why, for the record", obj{"type": "string"}, true)},
			responses: obj{"200": jsonResponse("erased", typeJSON, obj{"type": "object"}), "400": problemResponse, "404": problemResponse}},

		// Vector tiles built by PostGIS, and the map page.
		{method: "GET", pattern: "/tiles/{file}", handler: s.handleTileJSON(), group: "api", summary: "TileJSON (villages.json, kecamatan.json) or an OGC API - Tiles tileset description", id: "getTileSet",
			params: []paramSpec{param("file", "path", "villages.json, kecamatan.json", obj{"type": "string"}, true)}, responses: okNotFound},
		{method: "GET", pattern: "/tiles/{collection}/{z}/{x}/{y}", handler: s.handleTile(), group: "api", summary: "a Mapbox vector tile (Web Mercator)", id: "getTile",
			params: []paramSpec{param("collection", "path", "villages or kecamatan", obj{"type": "string"}, true),
				param("z", "path", "zoom", obj{"type": "integer", "minimum": 0, "maximum": 22}, true),
				param("x", "path", "column", obj{"type": "integer", "minimum": 0}, true),
				param("y", "path", "row (y.mvt or y.pbf)", obj{"type": "string"}, true), monthParam(false)},
			responses: obj{"200": obj{"description": "a tile", "content": obj{"application/vnd.mapbox-vector-tile": obj{"schema": obj{"type": "string", "format": "binary"}}}}, "204": obj{"description": "an empty tile"}, "400": problemResponse}},
		{method: "GET", pattern: "/map", handler: plain(s.handleMap()), group: "page", summary: "the risk map (HTML)", id: "getMap",
			responses: obj{"200": obj{"description": "the map page", "content": obj{"text/html": obj{"schema": obj{"type": "string"}}}}}},
		{method: "GET", pattern: "/static/*", handler: plain(s.handleStatic()), group: "page", summary: "the map page's scripts, styles and fonts", id: "getStatic",
			params:    []paramSpec{param("path", "path", "file", obj{"type": "string"}, true)},
			responses: obj{"200": obj{"description": "a file"}, "404": problemResponse}},
	}
}

// routes registers the route table.
func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	// HEAD is answered on every GET route (the body is dropped): GIS tools
	// probe with it.
	// Vector tiles are not in the list: the tile handler compresses them
	// itself, once, for its cache, and sends a small one as built
	// (keptTile).
	r.Use(middleware.GetHead, middleware.RequestID, s.observe, s.recoverer, s.sanitize, s.cors, middleware.Compress(1, // BestSpeed: level 5 cost 2x the query time on 2.5 MB of GeoJSON
		"application/json", "application/geo+json", "application/problem+json", "application/vnd.oai.openapi+json",
		"application/schema+json", "text/html", "text/csv", "text/javascript", "application/javascript", "text/css"))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no such resource", "no route matches "+r.URL.Path, "")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, "method not allowed", r.Method+" is not allowed on "+r.URL.Path, "")
	})
	table := s.routeTable()
	add := func(r chi.Router, group string) {
		for _, rt := range table {
			if rt.group != group {
				continue
			}
			if group == "api" {
				r.Method(rt.method, rt.pattern, s.guard(rt))
			} else {
				r.Method(rt.method, rt.pattern, s.serve(rt.handler))
			}
		}
	}
	add(r, "ops")
	r.Group(func(r chi.Router) {
		r.Use(s.timeout, s.throttle, s.authenticate, s.release)
		add(r, "api")
	})
	add(r, "page")
	return r
}
