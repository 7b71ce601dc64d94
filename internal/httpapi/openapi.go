package httpapi

import (
	"net/http"
	"strconv"

	"github.com/kesempatan/riskmap/internal/postgres"
)

type obj = map[string]any

func param(name, in, description string, schema obj, required bool) obj {
	return obj{"name": name, "in": in, "description": description, "required": required, "schema": schema, "style": "form", "explode": false}
}

func jsonResponse(description, contentType string, schema obj) obj {
	return obj{"description": description, "content": obj{contentType: obj{"schema": schema}}}
}

var problemResponse = obj{"description": "a problem (RFC 9457)", "content": obj{"application/problem+json": obj{"schema": obj{"$ref": "#/components/schemas/problem"}}}}

// openAPI builds the API definition from the routes and the collections, so
// that it cannot fall behind them.
func (s *Server) openAPI(base string, collections []*postgres.Collection) obj {
	fParam := func(formats ...string) obj {
		return param("f", "query", "response format (default by Accept header, else the first)", obj{"type": "string", "enum": formats}, false)
	}
	simple := func(summary, id string, formats ...string) obj {
		return obj{"get": obj{"summary": summary, "operationId": id, "parameters": []obj{fParam(formats...)},
			"responses": obj{"200": jsonResponse(summary, typeJSON, obj{"type": "object"}), "400": problemResponse}}}
	}
	paths := obj{
		"/":            simple("landing page", "getLandingPage", "json", "html"),
		"/conformance": simple("conformance classes", "getConformance", "json", "html"),
		"/api":         obj{"get": obj{"summary": "this API definition", "operationId": "getAPI", "responses": obj{"200": jsonResponse("OpenAPI 3.0", typeOpenAPI, obj{"type": "object"})}}},
		"/collections": simple("feature collections", "getCollections", "json", "html"),
		"/healthz":     obj{"get": obj{"summary": "the process is alive", "operationId": "getHealth", "responses": obj{"200": jsonResponse("alive", typeJSON, obj{"type": "object"})}}},
		"/readyz":      obj{"get": obj{"summary": "the database answers and the schema is current", "operationId": "getReady", "responses": obj{"200": jsonResponse("ready", typeJSON, obj{"type": "object"}), "503": problemResponse}}},
		"/metrics":     obj{"get": obj{"summary": "Prometheus metrics", "operationId": "getMetrics", "responses": obj{"200": obj{"description": "metrics", "content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}}}}},
		"/aggregates/{level}": obj{"get": obj{"summary": "area scores of one level", "operationId": "getAggregates",
			"parameters": []obj{
				param("level", "path", "desa, kecamatan or kabupaten", obj{"type": "string", "enum": []string{"desa", "kecamatan", "kabupaten"}}, true),
				param("parent", "query", "only areas within this code", obj{"type": "string"}, false), fParam("json", "html")},
			"responses": obj{"200": jsonResponse("area scores", typeJSON, obj{"type": "array"}), "400": problemResponse}}},
		"/villages/{code}/profile": obj{"get": obj{"summary": "a village's risk profile", "operationId": "getVillageProfile",
			"parameters": []obj{param("code", "path", "desa code, e.g. 35.13.13.2003", obj{"type": "string"}, true), fParam("json", "html")},
			"responses":  obj{"200": jsonResponse("profile", typeJSON, obj{"type": "object"}), "404": problemResponse}}},
		"/households/{uuid}": obj{"delete": obj{"summary": "admins: erase a household and everything keyed by it (consent withdrawn); the erasure is recorded without the uuid",
			"operationId": "eraseHousehold",
			"parameters": []obj{param("uuid", "path", "the household's survey uuid", obj{"type": "string"}, true),
				param("reason", "query", "why, for the record", obj{"type": "string"}, true)},
			"responses": obj{"200": jsonResponse("erased", typeJSON, obj{"type": "object"}), "400": problemResponse, "404": problemResponse}}},
		"/targets/villages": obj{"get": obj{"summary": "villages ranked by seasonal risk", "operationId": "getVillageTargets",
			"parameters": []obj{
				param("month", "query", "month 1-12", obj{"type": "integer", "minimum": 1, "maximum": 12}, true),
				param("area", "query", "kabupaten, kecamatan or desa code", obj{"type": "string"}, false),
				param("limit", "query", "how many", obj{"type": "integer", "minimum": 1, "maximum": MaxLimit, "default": 20}, false),
				fParam("json", "html")},
			"responses": obj{"200": jsonResponse("ranked villages", typeJSON, obj{"type": "object"}), "400": problemResponse}}},
	}
	for _, c := range collections {
		props := obj{}
		var filters []obj
		var sortable []string
		for _, p := range c.Properties {
			props[p.Name] = obj{"type": p.Type, "description": p.Description}
			if p.Filter {
				filters = append(filters, param(p.Name, "query", "only features whose "+p.Name+" equals this", obj{"type": "string"}, false))
			}
			if p.Sort {
				sortable = append(sortable, p.Name)
			}
		}
		params := []obj{
			param("bbox", "query", "minLon,minLat,maxLon,maxLat (CRS84)", obj{"type": "array", "minItems": 4, "maxItems": 4, "items": obj{"type": "number"}}, false),
			param("bbox-crs", "query", "the CRS of bbox: only CRS84", obj{"type": "string", "enum": []string{CRS84}}, false),
			param("limit", "query", "features per page; larger asks are clamped to "+strconv.Itoa(MaxLimit), obj{"type": "integer", "minimum": 1, "default": DefaultLimit}, false),
			param("offset", "query", "features to skip (the next and prev links carry it)", obj{"type": "integer", "minimum": 0, "default": 0}, false),
			param("properties", "query", "comma-separated properties to include", obj{"type": "array", "items": obj{"type": "string"}}, false),
			param("sortby", "query", "comma-separated properties, - for descending: "+joinNames(sortable), obj{"type": "array", "items": obj{"type": "string"}}, false),
			fParam("json", "html", "csv"),
		}
		if c.Month != "" {
			params = append(params, param("month", "query", "adds seasonal_score, the score in this month (1-12)", obj{"type": "integer", "minimum": 1, "maximum": 12}, false))
		}
		params = append(params, filters...)
		fc := obj{"type": "object", "properties": obj{
			"type": obj{"type": "string"}, "numberMatched": obj{"type": "integer"}, "numberReturned": obj{"type": "integer"},
			"links": obj{"type": "array"}, "features": obj{"type": "array", "items": obj{"type": "object", "properties": obj{
				"id": obj{"type": "string"}, "geometry": obj{"type": "object", "description": c.GeometryType}, "properties": obj{"type": "object", "properties": props}}}}}}
		paths["/collections/"+c.ID] = simple(c.Title+": the collection", "describe_"+c.ID, "json", "html")
		paths["/collections/"+c.ID+"/items"] = obj{"get": obj{"summary": c.Description, "operationId": "getItems_" + c.ID, "parameters": params,
			"responses": obj{"200": jsonResponse(c.Title, typeGeoJSON, fc), "400": problemResponse, "503": problemResponse}}}
		paths["/collections/"+c.ID+"/items/{featureId}"] = obj{"get": obj{"summary": "one of " + c.Title, "operationId": "getItem_" + c.ID,
			"parameters": []obj{param("featureId", "path", "the feature's id (code or survey uuid)", obj{"type": "string"}, true), fParam("json", "html")},
			"responses":  obj{"200": jsonResponse("a feature", typeGeoJSON, obj{"type": "object"}), "404": problemResponse}}}
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

func (s *Server) handleAPI() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.respond(w, r, "json", typeOpenAPI, "API", s.openAPI(s.base, s.visible(r)))
	}
}
