package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// link is an OGC API link.
type link struct {
	Href  string `json:"href"`
	Rel   string `json:"rel"`
	Type  string `json:"type,omitempty"`
	Title string `json:"title,omitempty"`
}

const (
	typeJSON    = "application/json"
	typeGeoJSON = "application/geo+json"
	typeHTML    = "text/html"
	typeCSV     = "text/csv"
	typeOpenAPI = "application/vnd.oai.openapi+json;version=3.0"
)

// negotiate picks the response format from ?f= or the Accept header among
// the ones the resource offers (the first is the default). With no list,
// the offer is the route's own: its f parameter's enum in the route table
// (the guard passes it on), so that what /api documents is what is served.
func negotiate(r *http.Request, offered ...string) (string, error) {
	if len(offered) == 0 {
		offered, _ = r.Context().Value(formatsKey{}).([]string)
		if len(offered) == 0 {
			offered = []string{"json"}
		}
	}
	if f := r.URL.Query().Get("f"); f != "" {
		for _, o := range offered {
			if f == o {
				return f, nil
			}
		}
		return "", badParam("f", "%q is not offered here; use one of %s", f, strings.Join(offered, ", "))
	}
	accept := r.Header.Get("Accept")
	for _, o := range offered {
		switch {
		case o == "html" && strings.Contains(accept, "text/html"):
			return "html", nil
		case o == "csv" && strings.Contains(accept, "text/csv"):
			return "csv", nil
		}
	}
	return offered[0], nil
}

// notModified sets the ETag of a data response and answers 304 when the
// client holds it. The tag changes whenever an import or a scoring run
// commits, so it can be known before the body is built and streamed.
func (s *Server) notModified(w http.ResponseWriter, r *http.Request, format string) (bool, error) {
	version, err := s.version.get(r.Context())
	if err != nil {
		return false, err
	}
	// The tag names who asked too: a key's response must never validate
	// another principal's cached copy.
	p := principal(r)
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%s?%s\x00%d/%s", version, format, r.URL.Path, r.URL.RawQuery, p.KeyID, p.Role)))
	tag := `"` + hex.EncodeToString(h[:12]) + `"`
	w.Header().Set("ETag", tag)
	if p.SharedCache() {
		w.Header().Set("Cache-Control", "public, max-age=60")
	} else {
		w.Header().Set("Cache-Control", "private, no-store")
	}
	w.Header().Add("Vary", "Accept, Authorization")
	for _, t := range strings.Split(r.Header.Get("If-None-Match"), ",") {
		if t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/")); t == tag || t == "*" {
			w.WriteHeader(http.StatusNotModified)
			return true, nil
		}
	}
	return false, nil
}

// respond writes v as JSON, or as an HTML page.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, format, contentType, title string, v any) {
	if format == "html" {
		renderHTML(w, title, v)
		return
	}
	w.Header().Set("Content-Type", contentType)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func (s *Server) handleLanding() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		b := s.base
		s.respond(w, r, format, typeJSON, "riskmap", map[string]any{
			"title":       "riskmap",
			"description": "Child-labour risk across tobacco-growing villages of East Java (Program Kesempatan): villages, risk scores, hotspots and tobacco fields as OGC API - Features.",
			"links": []link{
				{b + "/?f=json", "self", typeJSON, "this document"},
				{b + "/?f=html", "alternate", typeHTML, "this document as HTML"},
				{b + "/api", "service-desc", typeOpenAPI, "the API definition (OpenAPI 3.0)"},
				{b + "/conformance", "conformance", typeJSON, "conformance classes"},
				{b + "/collections", "data", typeJSON, "feature collections"},
				{b + "/map", "alternate", typeHTML, "the risk map"},
				{b + "/tiles/villages.json", "tiles", typeJSON, "vector tiles of villages (TileJSON)"},
			},
		})
		return nil
	}
}

var conformance = []string{
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
	"http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
	"http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
	"http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
	"http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
	"http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
	"http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
}

// queryablesDoc is a collection's queryables as a JSON Schema (OGC API -
// Features Part 3): every property a filter may name, with its type, title
// and values, and the geometry. "queryables" repeats the names in the
// draft's form, which GDAL 3.6 reads.
func queryablesDoc(base string, c *postgres.Collection) map[string]any {
	props := map[string]any{}
	var list []map[string]string
	for _, p := range c.Properties {
		if p.Nested() {
			continue
		}
		d := map[string]any{"title": p.Name, "description": p.Description, "type": p.Type}
		if p.Enum != nil {
			d["enum"] = p.Enum
		}
		props[p.Name] = d
		list = append(list, map[string]string{"id": p.Name, "type": p.Type})
	}
	props[postgres.GeometryQueryable] = map[string]any{"title": "geometry", "format": "geometry-" + strings.ToLower(c.GeometryType),
		"$ref": "https://geojson.org/schema/" + c.GeometryType + ".json"}
	return map[string]any{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"$id":     base + "/collections/" + c.ID + "/queryables",
		"type":    "object", "title": c.Title, "properties": props, "additionalProperties": false,
		"queryables": list,
	}
}

func (s *Server) handleQueryables() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, format, err := s.collectionRequest(r, "json", "html")
		if err != nil {
			return err
		}
		if done, err := s.notModified(w, r, format); done || err != nil {
			return err
		}
		ct := typeJSON
		if strings.Contains(r.Header.Get("Accept"), "application/schema+json") {
			ct = "application/schema+json"
		}
		s.respond(w, r, format, ct, c.Title+": queryables", queryablesDoc(s.base, c))
		return nil
	}
}

func (s *Server) handleConformance() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		s.respond(w, r, format, typeJSON, "Conformance", map[string]any{"conformsTo": conformance})
		return nil
	}
}

// collectionDoc describes one collection, with its extent computed from the data.
func (s *Server) collectionDoc(ctx context.Context, r *http.Request, b string, c *postgres.Collection) (map[string]any, error) {
	q := &postgres.ItemsQuery{Collection: c}
	restrict(r, c, q)
	doc := map[string]any{
		"id": c.ID, "title": c.Title, "description": c.Description, "itemType": "feature", "crs": crsList, "storageCrs": CRS84,
		"links": []link{
			{b + "/collections/" + c.ID, "self", typeJSON, "this collection"},
			{b + "/collections/" + c.ID + "?f=html", "alternate", typeHTML, "this collection as HTML"},
			{b + "/collections/" + c.ID + "/items", "items", typeGeoJSON, c.Title + " as GeoJSON"},
			{b + "/collections/" + c.ID + "/items?f=html", "items", typeHTML, c.Title + " as HTML"},
			{b + "/collections/" + c.ID + "/items?f=csv", "items", typeCSV, c.Title + " as CSV"},
			{b + "/collections/" + c.ID + "/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json", "what a filter may name"},
			{b + "/collections/" + c.ID + "/queryables", "queryables", typeJSON, "what a filter may name (draft relation name)"},
		},
	}
	bbox, ok, err := s.db.Extent(ctx, q)
	if err != nil {
		return nil, err
	}
	if ok {
		doc["extent"] = map[string]any{"spatial": map[string]any{"bbox": [][4]float64{bbox}, "crs": CRS84}}
	}
	return doc, nil
}

func (s *Server) handleCollections() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		if done, err := s.notModified(w, r, format); done || err != nil {
			return err
		}
		b := s.base
		var docs []map[string]any
		for _, c := range s.visible(r) {
			d, err := s.collectionDoc(r.Context(), r, b, c)
			if err != nil {
				return err
			}
			docs = append(docs, d)
		}
		s.respond(w, r, format, typeJSON, "Collections", map[string]any{
			"links": []link{
				{b + "/collections", "self", typeJSON, "this document"},
				{b + "/collections?f=html", "alternate", typeHTML, "this document as HTML"},
			},
			"collections": docs,
		})
		return nil
	}
}

func (s *Server) findCollection(r *http.Request) (*postgres.Collection, error) {
	id := chi.URLParam(r, "collection")
	if c := s.collection(r, id); c != nil {
		return c, nil
	}
	visible := s.visible(r)
	names := make([]string, len(visible))
	for i, c := range visible {
		names[i] = c.ID
	}
	return nil, errStatus(http.StatusNotFound, "no such collection", fmt.Sprintf("collection %q does not exist; collections: %s", id, strings.Join(names, ", ")), "collection")
}

// collectionRequest finds the request's collection and negotiates its
// format.
func (s *Server) collectionRequest(r *http.Request, formats ...string) (c *postgres.Collection, format string, err error) {
	if c, err = s.findCollection(r); err != nil {
		return nil, "", err
	}
	if format, err = negotiate(r, formats...); err != nil {
		return nil, "", err
	}
	return c, format, nil
}

func (s *Server) handleCollection() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, format, err := s.collectionRequest(r, "json", "html")
		if err != nil {
			return err
		}
		if done, err := s.notModified(w, r, format); done || err != nil {
			return err
		}
		d, err := s.collectionDoc(r.Context(), r, s.base, c)
		if err != nil {
			return err
		}
		s.respond(w, r, format, typeJSON, c.Title, d)
		return nil
	}
}

// pageURL is the items URL with the same parameters at another offset.
func (s *Server) pageURL(r *http.Request, offset int, format string) string {
	q := r.URL.Query()
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
		q.Del("after") // an offset counts from the start
	} else {
		q.Del("offset")
	}
	if format != "" {
		q.Set("f", format)
	} else {
		q.Del("f")
	}
	return s.base + r.URL.Path + "?" + q.Encode()
}

func (s *Server) handleItems() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, format, err := s.collectionRequest(r, "json", "html", "csv")
		if err != nil {
			return err
		}
		q, clamped, err := parseItems(c, r.URL.Query())
		if err != nil {
			return err
		}
		if q.Filter != nil {
			lang := r.URL.Query().Get("filter-lang")
			if lang == "" {
				lang = "cql2-text"
			}
			s.metrics.filters.WithLabelValues(c.ID, lang).Inc()
		}
		restrict(r, c, q)
		if done, err := s.notModified(w, r, format); done || err != nil {
			return err
		}
		if clamped > 0 {
			w.Header().Set("X-Limit-Clamped", fmt.Sprintf("requested %d, served at most %d", clamped, MaxLimit))
		}
		// A public GeoJSON page is kept, compressed, under the data version
		// it was built from, and served again with no query at all.
		key, err := s.pageKey(r, c, format)
		if err != nil {
			return err
		}
		if key != "" {
			if gz, ok := s.pages.get(key); ok {
				w.Header().Set("Content-Crs", "<"+crsURI(q.SRID)+">")
				return s.writeGzipped(w, r, typeGeoJSON, gz)
			}
		}
		matched, err := s.countItems(r.Context(), q)
		if err != nil {
			return err
		}
		// Household-level data is recorded before a byte of it is sent: if
		// the audit log cannot be written, nothing is sent.
		if c.Private {
			n, err := s.db.PageCount(r.Context(), q, matched)
			if err != nil {
				return err
			}
			if err := s.audit(r, n); err != nil {
				return err
			}
		}
		switch format {
		case "csv":
			s.itemsCSV(w, r, c, q)
		case "html":
			return s.itemsHTML(w, r, c, q, matched)
		default:
			if key == "" {
				s.itemsGeoJSON(w, r, c, q, matched, clamped)
				return nil
			}
			cw := &captureWriter{ResponseWriter: w, max: s.pages.max / 4}
			if s.itemsGeoJSON(cw, r, c, q, matched, clamped) && !cw.over {
				s.pages.put(key, gzipBytes(cw.buf.Bytes()))
			}
		}
		return nil
	}
}

// pageKey is the page cache's key for a request: its data version, role,
// path and parameters; "" for what is never kept (household data, HTML,
// CSV) or when there is no cache.
func (s *Server) pageKey(r *http.Request, c *postgres.Collection, format string) (string, error) {
	if c.Private || format != "json" || s.pages.max <= 0 {
		return "", nil
	}
	v, err := s.version.get(r.Context())
	if err != nil {
		return "", err
	}
	return v + "|" + string(principal(r).Role) + "|" + r.URL.Path + "?" + r.URL.Query().Encode(), nil
}

// writeGzipped writes a kept response: as it is to a client that takes
// gzip, unpacked to one that does not; nil is an empty response (an empty
// tile is a valid one), and a small tile kept uncompressed (keptTile) goes
// as it is to every client.
func (s *Server) writeGzipped(w http.ResponseWriter, r *http.Request, contentType string, gz []byte) error {
	if len(gz) == 0 {
		w.Header().Set("Content-Type", contentType)
		w.Header().Add("Vary", "Accept-Encoding")
		w.Header().Set("Content-Length", "0")
		return nil
	}
	if !isGzip(gz) { // a small tile, kept as built (keptTile)
		return writeIdentity(w, contentType, gz)
	}
	if !acceptsGzip(r) {
		b, err := gunzipBytes(gz)
		if err != nil {
			return err
		}
		return writeIdentity(w, contentType, b)
	}
	w.Header().Set("Content-Encoding", "gzip")
	return writeIdentity(w, contentType, gz)
}

// isGzip reports whether b begins with gzip's magic number.
func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// writeIdentity writes body as it is (writeGzipped sets Content-Encoding
// first when body is compressed).
func writeIdentity(w http.ResponseWriter, contentType string, body []byte) error {
	w.Header().Set("Content-Type", contentType)
	w.Header().Add("Vary", "Accept-Encoding")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
	return nil
}

// captureWriter passes a response through and keeps a copy of its body,
// up to max bytes (over: it was longer, and the copy is dropped).
type captureWriter struct {
	http.ResponseWriter
	buf  bytes.Buffer
	max  int64
	over bool
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if !c.over {
		if int64(c.buf.Len()+len(p)) > c.max {
			c.over = true
			c.buf = bytes.Buffer{}
		} else {
			c.buf.Write(p)
		}
	}
	return c.ResponseWriter.Write(p)
}

// itemsGeoJSON streams a page of features. Its links come after the
// features: in id order (no sortby, no offset asked) the next link carries
// the page's last id (keyset paging: every page costs what the first does),
// which is known only once the page is written. A request with offset or
// sortby pages by offset, as before.
func (s *Server) itemsGeoJSON(w http.ResponseWriter, r *http.Request, c *postgres.Collection, q *postgres.ItemsQuery, matched, clamped int) bool {
	keyset := len(q.SortBy) == 0 && q.Offset == 0
	q.Peek = keyset
	started := false
	pg, err := s.db.StreamPage(r.Context(), q, func() io.Writer {
		started = true
		w.Header().Set("Content-Type", typeGeoJSON)
		w.Header().Set("Content-Crs", "<"+crsURI(q.SRID)+">")
		fmt.Fprintf(w, `{"type":"FeatureCollection","numberMatched":%d,`, matched)
		if clamped > 0 {
			fmt.Fprintf(w, `"limitClamped":{"requested":%d,"maximum":%d},`, clamped, MaxLimit)
		}
		fmt.Fprint(w, `"features":[`)
		return w
	})
	if err != nil {
		s.streamFailed(w, r, started, pg.N, err)
		return false
	}
	links := []link{
		{s.pageURL(r, q.Offset, ""), "self", typeGeoJSON, "this page"},
		{s.pageURL(r, q.Offset, "html"), "alternate", typeHTML, "this page as HTML"},
		{s.pageURL(r, q.Offset, "csv"), "alternate", typeCSV, "this page as CSV"},
		{s.base + "/collections/" + c.ID, "collection", typeJSON, c.Title},
	}
	switch {
	case keyset && pg.More:
		links = append(links, link{s.afterURL(r, pg.Last), "next", typeGeoJSON, "next page"})
	case !keyset && q.Offset+q.Limit < matched:
		links = append(links, link{s.pageURL(r, q.Offset+q.Limit, ""), "next", typeGeoJSON, "next page"})
	}
	if q.Offset > 0 {
		links = append(links, link{s.pageURL(r, max(q.Offset-q.Limit, 0), ""), "prev", typeGeoJSON, "previous page"})
	}
	var tail strings.Builder
	enc := json.NewEncoder(&tail)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(links)
	_, err = fmt.Fprintf(w, `],"numberReturned":%d,"links":%s}`+"\n", pg.N, strings.TrimSpace(tail.String()))
	return err == nil
}

// afterURL is the items URL with the same parameters, after the id last.
func (s *Server) afterURL(r *http.Request, last string) string {
	q := r.URL.Query()
	q.Del("offset")
	q.Del("f")
	q.Set("after", last)
	return s.base + r.URL.Path + "?" + q.Encode()
}

// streamFailed handles an error met while streaming: before the first
// feature it is still a problem response; after, the log is all we have.
func (s *Server) streamFailed(w http.ResponseWriter, r *http.Request, started bool, n int, err error) {
	if started {
		if r.Context().Err() == nil && !postgres.Unavailable(err) {
			s.log.Error("stream failed", "path", r.URL.Path, "features", n, "err", err)
		} else if r.Context().Err() == nil {
			s.log.Warn("stream cut: database unavailable", "path", r.URL.Path, "features", n, "err", err)
		}
		return
	}
	s.fail(w, r, err)
}

func (s *Server) itemsCSV(w http.ResponseWriter, r *http.Request, c *postgres.Collection, q *postgres.ItemsQuery) {
	var cw *csv.Writer
	err := s.db.StreamRows(r.Context(), q, func(header []string) {
		w.Header().Set("Content-Type", typeCSV+"; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+c.ID+`.csv"`)
		cw = csv.NewWriter(w)
		_ = cw.Write(header)
	}, func(rec []string) error {
		return cw.Write(rec)
	})
	if cw != nil {
		cw.Flush()
	}
	if err != nil {
		s.streamFailed(w, r, cw != nil, 0, err)
	}
}

func (s *Server) handleItem() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, format, err := s.collectionRequest(r, "json", "html")
		if err != nil {
			return err
		}
		fid := chi.URLParam(r, "fid")
		v := url.Values{}
		for _, k := range []string{"month", "crs", "properties"} {
			if x := r.URL.Query().Get(k); x != "" {
				v.Set(k, x)
			}
		}
		q, _, err := parseItems(c, v)
		if err != nil {
			return err
		}
		q.ID, q.Limit = fid, 1
		restrict(r, c, q)
		if done, err := s.notModified(w, r, format); done || err != nil {
			return err
		}
		var buf strings.Builder
		n, err := s.db.StreamFeatures(r.Context(), q, func() io.Writer { return &buf })
		if err != nil {
			return err
		}
		if n == 0 {
			return errStatus(http.StatusNotFound, "no such feature", fmt.Sprintf("collection %s has no feature %q", c.ID, fid), "fid")
		}
		if c.Private {
			if err := s.audit(r, 1); err != nil {
				return err
			}
		}
		var feature map[string]any
		if err := json.Unmarshal([]byte(buf.String()), &feature); err != nil {
			return err
		}
		b := s.base
		feature["links"] = []link{
			{b + "/collections/" + c.ID + "/items/" + url.PathEscape(fid), "self", typeGeoJSON, "this feature"},
			{b + "/collections/" + c.ID + "/items/" + url.PathEscape(fid) + "?f=html", "alternate", typeHTML, "this feature as HTML"},
			{b + "/collections/" + c.ID, "collection", typeJSON, c.Title},
		}
		if format == "html" {
			s.featureHTML(w, c, fid, feature, feature["links"].([]link))
			return nil
		}
		w.Header().Set("Content-Crs", "<"+crsURI(q.SRID)+">")
		s.respond(w, r, format, typeGeoJSON, c.Title+" "+fid, feature)
		return nil
	}
}

// restrict confines a query of household-level data to the principal's
// scope: items, counts and extents alike. A staff key reads its areas
// (risk.Principal.Scope); anyone else who reached a private collection
// reads all of it: admins, and planners, whom visible() shows only the
// geomasked households. A query left without a scope reads nothing
// (postgres.Scope).
func restrict(r *http.Request, c *postgres.Collection, q *postgres.ItemsQuery) {
	if !c.Private {
		return
	}
	if p := principal(r); p.Role == risk.RoleStaff {
		q.Scope = &postgres.Scope{Areas: p.Scope()}
	} else {
		q.Scope = &postgres.Scope{All: true}
	}
}
