package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// apiHandler is an API route's handler. It returns its error instead of
// writing it: the route's guard hands it to s.fail, the one place an error
// becomes a problem response. It returns nil when it has answered, an
// answer it chose to write itself included (a 404 naming the feature, a
// 415, a 304).
type apiHandler func(w http.ResponseWriter, r *http.Request) error

// plain adapts a handler that answers every request itself (operations,
// static files).
func plain(h http.Handler) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error { h.ServeHTTP(w, r); return nil }
}

func (s *Server) serve(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// paramSpec is one parameter of a route. /api documents it (doc) and the
// route's guard checks every request against it (check), from the same
// schema, so what the document promises and what the server accepts
// cannot drift. The schema is the OpenAPI 3.0 subset riskmap uses:
// type string, integer or boolean; enum; minimum and maximum; maxLength;
// format date. (Array and number schemas document the items routes, whose
// own parser checks them: see parseItems.)
type paramSpec struct {
	name, in, description string
	required              bool
	schema                obj
	// inScope: the value is an area code that must lie within the
	// caller's areas (a 403 otherwise): household-level routes.
	inScope bool
}

// param declares a parameter. A path or header parameter is one plain
// value (OpenAPI's style "simple"); a query parameter's list is
// comma-separated (style "form" without explode: ?properties=a,b).
// OpenAPI requires a path parameter to be required.
func param(name, in, description string, schema obj, required bool) paramSpec {
	return paramSpec{name: name, in: in, description: description, schema: schema, required: required || in == "path"}
}

// scoped marks an area parameter the caller's key must cover.
func (p paramSpec) scoped() paramSpec { p.inScope = true; return p }

// doc is the parameter as /api documents it.
func (p paramSpec) doc() obj {
	style := "form"
	if p.in == "path" || p.in == "header" {
		style = "simple"
	}
	return obj{"name": p.name, "in": p.in, "description": p.description, "required": p.required, "schema": p.schema, "style": style, "explode": false}
}

func paramDocs(ps []paramSpec) []obj {
	out := make([]obj, len(ps))
	for i, p := range ps {
		out[i] = p.doc()
	}
	return out
}

// check reports why v is not a value of the parameter, as a 400 naming it.
func (p paramSpec) check(v string) error {
	if v == "" {
		if p.required {
			return badParam(p.name, "required: %s", p.description)
		}
		return nil
	}
	s := p.schema
	switch s["type"] {
	case "integer":
		n, err := strconv.Atoi(v)
		lo, hasLo := s["minimum"].(int)
		hi, hasHi := s["maximum"].(int)
		switch {
		case err != nil || (hasLo && n < lo) || (hasHi && n > hi):
			want := "a whole number"
			switch {
			case hasLo && hasHi:
				want = fmt.Sprintf("a whole number %d..%d", lo, hi)
			case hasLo:
				want = fmt.Sprintf("a whole number of at least %d", lo)
			}
			return badParam(p.name, "%q: want %s (%s)", v, want, p.description)
		}
	case "boolean":
		if v != "true" && v != "false" {
			return badParam(p.name, "%q: want true or false", v)
		}
	case "string":
		if enum, ok := s["enum"].([]string); ok && !slices.Contains(enum, v) {
			if p.name == "f" {
				return badParam(p.name, "%q is not offered here; use one of %s", v, strings.Join(enum, ", "))
			}
			return badParam(p.name, "%q is not one of %s", v, strings.Join(enum, ", "))
		}
		if s["format"] == "date" {
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				return badParam(p.name, "%q is not a date (YYYY-MM-DD)", v)
			}
		}
		if n, ok := s["maxLength"].(int); ok && utf8.RuneCountInString(v) > n {
			return badParam(p.name, "longer than %d characters", n)
		}
	}
	return nil
}

// access says who may call a route. To anyone else the route does not
// exist: a 404 exactly like an unknown path, so that a public key cannot
// even learn which household-level routes there are.
type access func(risk.Principal) bool

// notFound answers as if the route did not exist.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, http.StatusNotFound, "no such resource", "no route matches "+r.URL.Path, "")
}

// A route without an access rule is open to anyone (public and planner
// figures).
var (
	householders access = risk.Principal.SeesHouseholds
	admins       access = risk.Principal.ReadsAudit
)

// auditRule says which answers of a route hold household- or child-level
// data and so must be in the audit log before a byte of them is sent.
type auditRule int

const (
	auditNone auditRule = iota
	// auditAlways: every successful answer.
	auditAlways
	// auditPrivate: answers from a private collection (households, children).
	auditPrivate
)

// guard wraps a route's handler with what the route table declares, in
// this order: who may call it (a 404 for anyone else), which query
// parameters it takes and their values (a 400 naming the first bad one),
// the caller's areas for a scoped parameter (a 403), and, for an audited
// route, a writer that refuses to send a successful answer the handler has
// not audited (s.audit). Routes that name a collection or take OGC
// clients' discovery requests set openQuery: their parameters are checked
// by their own parsers, or ignored as OGC clients expect.
func (s *Server) guard(rt route) http.Handler {
	query := map[string]paramSpec{}
	var names []string
	for _, p := range rt.params {
		if p.in == "query" {
			query[p.name] = p
			names = append(names, p.name)
		}
	}
	var formats []string
	if f, ok := query["f"]; ok {
		formats, _ = f.schema["enum"].([]string)
	}
	takes := "takes no parameters"
	if len(names) > 0 {
		takes = "takes " + joinAnd(names)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		if rt.access != nil && !rt.access(p) {
			notFound(w, r)
			return
		}
		if !rt.openQuery {
			v := r.URL.Query()
			for k := range v {
				if _, ok := query[k]; !ok {
					s.fail(w, r, badParam(k, "unknown parameter; this endpoint %s", takes))
					return
				}
			}
			for _, name := range names {
				spec := query[name]
				vals := v[name]
				if len(vals) == 0 {
					vals = []string{""}
				}
				for _, x := range vals {
					if err := spec.check(x); err != nil {
						s.fail(w, r, err)
						return
					}
				}
				if x := v.Get(name); spec.inScope && x != "" && !p.Covers(x) {
					writeProblem(w, http.StatusForbidden, "outside your areas", "this key covers "+strings.Join(p.Areas, ", "), name)
					return
				}
			}
		}
		if formats != nil {
			r = r.WithContext(context.WithValue(r.Context(), formatsKey{}, formats))
		}
		if !s.mustAudit(rt.audit, r) {
			s.serve(rt.handler)(w, r)
			return
		}
		slot := &auditSlot{route: rt.pattern}
		if rt.collection {
			slot.route = strings.ReplaceAll(rt.pattern, "{collection}", chi.URLParam(r, "collection"))
		}
		g := &auditGuard{ResponseWriter: w, slot: slot, s: s, r: r}
		s.serve(rt.handler)(g, r.WithContext(context.WithValue(r.Context(), auditKey{}, slot)))
	})
}

func (s *Server) mustAudit(rule auditRule, r *http.Request) bool {
	switch rule {
	case auditAlways:
		return true
	case auditPrivate:
		c := s.collection(r, chi.URLParam(r, "collection"))
		return c != nil && c.Private
	}
	return false
}

type auditKey struct{}

// formatsKey carries the route's f enum to negotiate.
type formatsKey struct{}

// auditSlot is an audited request's record: which route (with the
// collection filled in) and whether the entry has been written.
type auditSlot struct {
	route string
	done  bool
}

// audit writes the audit entry of an audited route's answer: the caller,
// the route as the table declares it, the request's query and path
// parameters, and records, the number of household- or child-level
// records the answer holds (for a page, the rows actually sent). Call it
// after the records are counted and before the answer is written; the
// route's guard refuses a successful answer without it.
func (s *Server) audit(r *http.Request, records int) error {
	slot, _ := r.Context().Value(auditKey{}).(*auditSlot)
	if slot == nil {
		return fmt.Errorf("audit: %s %s is not declared audited in the route table", r.Method, r.URL.Path)
	}
	params := url.Values{}
	for k, v := range r.URL.Query() {
		params[k] = v
	}
	if rc := chi.RouteContext(r.Context()); rc != nil {
		for i, k := range rc.URLParams.Keys {
			if k != "collection" && k != "*" {
				params[k] = []string{rc.URLParams.Values[i]}
			}
		}
	}
	if err := s.db.Audit(r.Context(), principal(r), slot.route, params, records); err != nil {
		return err
	}
	slot.done = true
	return nil
}

// auditedInTransaction marks an audited request whose entry the store
// wrote in the same transaction as the change it records (a visit).
func auditedInTransaction(r *http.Request) {
	if slot, _ := r.Context().Value(auditKey{}).(*auditSlot); slot != nil {
		slot.done = true
	}
}

// auditGuard is the writer of an audited route: a successful status with
// no audit entry written becomes a 500, and the handler's body is dropped.
// Errors (4xx, 5xx) and 304s hold no records and pass.
type auditGuard struct {
	http.ResponseWriter
	slot    *auditSlot
	s       *Server
	r       *http.Request
	decided bool
	refused bool
}

func (g *auditGuard) WriteHeader(code int) {
	if g.decided {
		return
	}
	g.decided = true
	if code < 300 && !g.slot.done {
		g.refused = true
		g.s.log.Error("unaudited answer refused", "method", g.r.Method, "route", g.slot.route)
		writeProblem(g.ResponseWriter, http.StatusInternalServerError, "Internal Server Error", "internal error", "")
		return
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *auditGuard) Write(b []byte) (int, error) {
	if !g.decided {
		g.WriteHeader(http.StatusOK)
	}
	if g.refused {
		return len(b), nil
	}
	return g.ResponseWriter.Write(b)
}

func (g *auditGuard) Flush() {
	if f, ok := g.ResponseWriter.(http.Flusher); ok && !g.refused {
		f.Flush()
	}
}

func (g *auditGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func joinAnd(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}
