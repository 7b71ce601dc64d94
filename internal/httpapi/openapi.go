package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/kesempatan/riskmap/internal/postgres"
)

type obj = map[string]any

func jsonResponse(description, contentType string, schema obj) obj {
	return obj{"description": description, "content": obj{contentType: obj{"schema": schema}}}
}

var problemResponse = obj{"description": "a problem (RFC 9457)", "content": obj{"application/problem+json": obj{"schema": obj{"$ref": "#/components/schemas/problem"}}}}

// openAPI builds the API definition from the route table and the
// collections, so that it cannot fall behind either.
func (s *Server) openAPI(base string, collections []*postgres.Collection) obj {
	paths := obj{}
	add := func(path, method string, op obj) {
		if paths[path] == nil {
			paths[path] = obj{}
		}
		paths[path].(obj)[strings.ToLower(method)] = op
	}
	for _, rt := range s.routeTable() {
		path := strings.ReplaceAll(rt.pattern, "/*", "/{path}")
		if !rt.collection {
			op := obj{"summary": rt.summary, "operationId": rt.id, "responses": rt.responses}
			if rt.params != nil {
				op["parameters"] = paramDocs(rt.params)
			}
			add(path, rt.method, op)
			continue
		}
		for _, c := range collections {
			p := strings.ReplaceAll(path, "{collection}", c.ID)
			op := obj{"summary": c.Title + ": " + rt.summary, "operationId": rt.id + "_" + c.ID, "responses": rt.responses}
			if rt.params != nil {
				op["parameters"] = paramDocs(rt.params)
			}
			switch rt.id {
			case "getItems":
				op["summary"] = c.Description
				op["parameters"], op["responses"] = itemsParamDocs(c), obj{"200": jsonResponse(c.Title, typeGeoJSON, featureCollectionSchema(c)), "400": problemResponse, "503": problemResponse}
			case "getItem":
				op["parameters"] = paramDocs([]paramSpec{param("fid", "path", "the feature's id (code or survey uuid)", obj{"type": "string"}, true),
					param("crs", "query", "the response's CRS", obj{"type": "string", "enum": crsList, "default": CRS84}, false),
					param("properties", "query", "comma-separated properties (default: all, nested ones too)", obj{"type": "array", "items": obj{"type": "string"}}, false),
					fParam("json", "html")})
				op["responses"] = obj{"200": jsonResponse("a feature", typeGeoJSON, obj{"type": "object"}), "404": problemResponse}
			}
			add(p, rt.method, op)
		}
	}
	return obj{
		"openapi": "3.0.3",
		"info": obj{"title": "riskmap", "version": "1", "description": "Child-labour risk across tobacco-growing villages of East Java: OGC API - Features, aggregates and targets.",
			"license": obj{"name": "see the repository"}},
		"servers": []obj{{"url": base}},
		"paths":   paths,
		"components": obj{"schemas": obj{"problem": obj{"type": "object", "properties": obj{
			"type": obj{"type": "string"}, "title": obj{"type": "string"}, "status": obj{"type": "integer"},
			"detail": obj{"type": "string"}, "parameter": obj{"type": "string"}}}}},
	}
}

// itemsParamDocs documents a collection's items parameters: the core ones,
// CRS (Part 2), filtering (Part 3) and the collection's own filters.
func itemsParamDocs(c *postgres.Collection) []obj {
	var filters []paramSpec
	var sortable []string
	for _, p := range c.Properties {
		if p.Filter {
			schema := obj{"type": "string"}
			if p.Enum != nil {
				schema["enum"] = p.Enum
			}
			filters = append(filters, param(p.Name, "query", "only features whose "+p.Name+" equals this", schema, false))
		}
		if p.Sort {
			sortable = append(sortable, p.Name)
		}
	}
	params := []paramSpec{
		param("bbox", "query", "minLon,minLat,maxLon,maxLat (in bbox-crs's axis order)", obj{"type": "array", "minItems": 4, "maxItems": 4, "items": obj{"type": "number"}}, false),
		param("bbox-crs", "query", "the CRS of bbox", obj{"type": "string", "enum": crsList, "default": CRS84}, false),
		param("crs", "query", "the CRS of the response's geometries (Content-Crs says which)", obj{"type": "string", "enum": crsList, "default": CRS84}, false),
		param("limit", "query", "features per page; larger asks are clamped to "+strconv.Itoa(MaxLimit), obj{"type": "integer", "minimum": 1, "maximum": MaxLimit, "default": DefaultLimit}, false),
		param("offset", "query", "features to skip (pages deep in a large collection are slow: follow the next links instead)", obj{"type": "integer", "minimum": 0, "default": 0}, false),
		param("after", "query", "the features after this key, in key order (the next links carry it; not with sortby or offset)", obj{"type": "string"}, false),
		param("properties", "query", "comma-separated properties to include (default: the flat ones; name a nested one to get it)", obj{"type": "array", "items": obj{"type": "string"}}, false),
		param("sortby", "query", "comma-separated properties, - for descending: "+joinNames(sortable), obj{"type": "array", "items": obj{"type": "string"}}, false),
		param("filter", "query", "a CQL2-text filter over the queryables, e.g. score > 60 AND tier IN ('high','medium')", obj{"type": "string"}, false),
		param("filter-lang", "query", "cql2-text (cql-text: its draft name)", obj{"type": "string", "enum": []string{"cql2-text", "cql-text"}, "default": "cql2-text"}, false),
		param("filter-crs", "query", "the CRS of the filter's geometries", obj{"type": "string", "enum": []string{CRS84}, "default": CRS84}, false),
		param("geometry", "query", "wkt: with f=csv, add each feature's geometry as WKT (left out by default)", obj{"type": "string", "enum": []string{"wkt"}}, false),
		fParam("json", "html", "csv"),
	}
	if c.Month != "" {
		params = append(params, param("month", "query", "adds seasonal_score, the score in this month (1-12)", obj{"type": "integer", "minimum": 1, "maximum": 12}, false))
	}
	if c.TimeStart != "" {
		params = append(params, param("datetime", "query", "features whose time (survey date, or round dates) intersects this instant or interval (2026-09-01, 2026-01-01/2026-06-30, ../2026-06-30)", obj{"type": "string"}, false))
	}
	return paramDocs(append(params, filters...))
}

func featureCollectionSchema(c *postgres.Collection) obj {
	props := obj{}
	for _, p := range c.Properties {
		props[p.Name] = obj{"type": p.Type, "description": p.Description}
	}
	return obj{"type": "object", "properties": obj{
		"type": obj{"type": "string"}, "numberMatched": obj{"type": "integer"}, "numberReturned": obj{"type": "integer"},
		"links": obj{"type": "array"}, "features": obj{"type": "array", "items": obj{"type": "object", "properties": obj{
			"id": obj{"type": "string"}, "geometry": obj{"type": "object", "description": c.GeometryType}, "properties": obj{"type": "object", "properties": props}}}}}}
}

func joinNames(ns []string) string {
	out := ""
	for i, n := range ns {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

func (s *Server) handleAPI() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		s.respond(w, r, "json", typeOpenAPI, "API", s.openAPI(s.base, s.visible(r)))
		return nil
	}
}
