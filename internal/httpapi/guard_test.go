package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// These tests need no database: they drive the route table's guard (who
// may call, which parameters, what is audited) with handlers that only
// say they were reached. The real tier (httpapi_test.go, privacy_test.go,
// cases_test.go) drives the same guard through the real router.

func guarded(t *testing.T, rt route) (*Server, http.Handler, *bool) {
	t.Helper()
	reached := false
	inner := rt.handler
	if inner == nil {
		inner = func(w http.ResponseWriter, r *http.Request) error {
			reached = true
			w.WriteHeader(http.StatusOK)
			_, err := io.WriteString(w, "reached")
			return err
		}
	} else {
		h := inner
		inner = func(w http.ResponseWriter, r *http.Request) error { reached = true; return h(w, r) }
	}
	rt.handler = inner
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: newMetrics(), collections: postgres.Collections()}
	return s, s.guard(rt), &reached
}

func as(p risk.Principal, target string) *http.Request {
	r := httptest.NewRequest("GET", target, nil)
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

func TestGuardParameters(t *testing.T) {
	t.Parallel()
	staff := risk.Principal{Role: risk.RoleStaff, Name: "s", KeyID: 7, Areas: []string{"35.13.13"}}
	public := risk.Principal{Role: risk.RolePublic}
	rt := route{method: "GET", pattern: "/x", access: householders, params: []paramSpec{
		monthParam(true),
		param("area", "query", "area", obj{"type": "string"}, false).scoped(),
		param("limit", "query", "how many", obj{"type": "integer", "minimum": 1, "maximum": MaxLimit}, false),
		param("open", "query", "only open", obj{"type": "boolean"}, false),
		param("due", "query", "a date", obj{"type": "string", "format": "date"}, false),
		param("q", "query", "text", obj{"type": "string", "maxLength": 5}, false),
		fParam("json", "csv"),
	}}
	tests := []struct {
		name   string
		who    risk.Principal
		query  string
		status int
		param  string // the parameter the problem names
	}{
		{"a good request reaches the handler", staff, "?month=8&area=35.13.13.2003&limit=5&open=true&due=2026-09-01&q=abc&f=csv", 200, ""},
		{"the public cannot learn the route exists", public, "?month=8", 404, ""},
		{"the public is refused before its parameters are read", public, "?force=1", 404, ""},
		{"an unknown parameter", staff, "?month=8&force=1", 400, "force"},
		{"a required parameter missing", staff, "", 400, "month"},
		{"a required parameter empty", staff, "?month=", 400, "month"},
		{"not a whole number", staff, "?month=eight", 400, "month"},
		{"below the minimum", staff, "?month=0", 400, "month"},
		{"above the maximum", staff, "?month=13", 400, "month"},
		{"a repeated parameter's second value", staff, "?month=8&month=99", 400, "month"},
		{"limit over the maximum", staff, "?month=8&limit=10001", 400, "limit"},
		{"not a boolean", staff, "?month=8&open=yes", 400, "open"},
		{"not a date", staff, "?month=8&due=2026-13-01", 400, "due"},
		{"too long", staff, "?month=8&q=abcdef", 400, "q"},
		{"too long in characters, not bytes, is fine", staff, "?month=8&q=" + "%C3%A9%C3%A9%C3%A9", 200, ""},
		{"a format not offered", staff, "?month=8&f=xml", 400, "f"},
		{"an area outside the key's", staff, "?month=8&area=35.08", 403, "area"},
		{"SQL in a number", staff, "?month=8%3BDROP+TABLE+household", 400, "month"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, h, reached := guarded(t, rt)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, as(tt.who, "/x"+tt.query))
			if w.Code != tt.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.status)
			}
			if *reached != (tt.status == 200) {
				t.Errorf("handler reached = %v with status %d", *reached, w.Code)
			}
			if tt.status == 200 {
				return
			}
			var p problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("not a problem: %v %q", err, w.Body)
			}
			if p.Parameter != tt.param {
				t.Errorf("problem names %q (%s), want %q", p.Parameter, p.Detail, tt.param)
			}
			if tt.status == 404 && p.Detail != "no route matches /x" {
				t.Errorf("a refused caller sees %q, not what an unknown path says", p.Detail)
			}
		})
	}
}

func TestGuardUnknownParameterNamesWhatIsTaken(t *testing.T) {
	t.Parallel()
	_, h, _ := guarded(t, route{method: "GET", pattern: "/x", params: []paramSpec{fParam("json"), monthParam(false)}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, as(risk.Principal{Role: risk.RolePublic}, "/x?colour=red"))
	if w.Code != 400 || !strings.Contains(w.Body.String(), "takes f and month") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	_, h, _ = guarded(t, route{method: "GET", pattern: "/x"})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, as(risk.Principal{Role: risk.RolePublic}, "/x?f=json"))
	if w.Code != 400 || !strings.Contains(w.Body.String(), "takes no parameters") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	// An open query (OGC discovery) passes what clients add.
	_, h, reached := guarded(t, route{method: "GET", pattern: "/x", openQuery: true})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, as(risk.Principal{Role: risk.RolePublic}, "/x?SERVICE=WFS"))
	if w.Code != 200 || !*reached {
		t.Errorf("open query: %d %s", w.Code, w.Body)
	}
}

// TestGuardRefusesUnauditedAnswers: an audited route whose handler forgets
// to audit sends nothing of its body; one that audited (here in the
// store's transaction) is sent; errors pass, audited or not.
func TestGuardRefusesUnauditedAnswers(t *testing.T) {
	t.Parallel()
	admin := risk.Principal{Role: risk.RoleAdmin, Name: "a", KeyID: 1}
	secret := "household 5f2c, child aged 12"
	tests := []struct {
		name    string
		handler http.HandlerFunc
		status  int
		leaks   bool
	}{
		{"forgot to audit, writes the body", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, secret) }, 500, false},
		{"forgot to audit, sets 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", typeJSON)
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, secret)
			w.(http.Flusher).Flush()
		}, 500, false},
		{"forgot to audit, 201", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, secret)
		}, 500, false},
		{"audited", func(w http.ResponseWriter, r *http.Request) {
			auditedInTransaction(r)
			_, _ = io.WriteString(w, secret)
		}, 200, true},
		{"an error needs no audit", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, http.StatusNotFound, "no such case", "no case 3 in your areas", "id")
		}, 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, h, _ := guarded(t, route{method: "GET", pattern: "/x", access: admins, audit: auditAlways, handler: plain(tt.handler)})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, as(admin, "/x"))
			if w.Code != tt.status || strings.Contains(w.Body.String(), secret) != tt.leaks {
				t.Errorf("%d %q, want %d with the body sent: %v", w.Code, w.Body, tt.status, tt.leaks)
			}
		})
	}
	// A returned error goes to s.fail, audited route or not: a bad
	// parameter is a 400 naming it, anything else a 500 that shows nothing.
	for _, tt := range []struct {
		err    error
		status int
		shows  string
	}{
		{badParam("id", "%q is not a case number", "x"), 400, `"parameter":"id"`},
		{risk.Errorf(risk.ENOTFOUND, "no case 3"), 404, "no case 3"},
		{errors.New("pq: relation \"household\" does not exist"), 500, "internal error"},
	} {
		_, h, _ := guarded(t, route{method: "GET", pattern: "/x", access: admins, audit: auditAlways, handler: func(w http.ResponseWriter, r *http.Request) error { return tt.err }})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, as(admin, "/x"))
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.shows) || strings.Contains(w.Body.String(), "relation") {
			t.Errorf("%v: %d %s", tt.err, w.Code, w.Body)
		}
	}
	// s.audit on a route the table does not declare audited is an error,
	// not a silent entry under a made-up route name.
	_, h, _ := guarded(t, route{method: "GET", pattern: "/x", handler: func(w http.ResponseWriter, r *http.Request) error {
		s := &Server{}
		if err := s.audit(r, 1); err == nil || !strings.Contains(err.Error(), "not declared audited") {
			t.Errorf("audit outside an audited route: %v", err)
		}
		return nil
	}})
	h.ServeHTTP(httptest.NewRecorder(), as(admin, "/x"))
}

// TestRouteTableDeclaresWhatItSays: a route whose summary promises staff,
// admins or an audit declares it, and a route that declares access or an
// audit says so in its summary (which /api shows), so that the table, the
// document and the guard agree.
func TestRouteTableDeclaresWhatItSays(t *testing.T) {
	t.Parallel()
	s := &Server{metrics: newMetrics(), collections: postgres.Collections()}
	var private, audited int
	for _, rt := range s.routeTable() {
		sum := rt.summary
		wantAccess := map[bool]string{true: "staff", false: ""}[strings.HasPrefix(sum, "staff")]
		if strings.HasPrefix(sum, "admins:") {
			wantAccess = "admins"
		}
		got := ""
		switch {
		case rt.access == nil:
		case rt.access(risk.Principal{Role: risk.RoleStaff}) && !rt.access(risk.Principal{Role: risk.RolePlanner}):
			got = "staff"
		case rt.access(risk.Principal{Role: risk.RoleAdmin}) && !rt.access(risk.Principal{Role: risk.RoleStaff}):
			got = "admins"
		default:
			got = "?"
		}
		if got != wantAccess {
			t.Errorf("%s %s: summary %q, access %q", rt.method, rt.pattern, sum, got)
		}
		if strings.Contains(sum, "(audited") || strings.Contains(sum, "; audited)") {
			if rt.audit != auditAlways {
				t.Errorf("%s %s: the summary says audited, the table does not", rt.method, rt.pattern)
			}
		} else if rt.audit == auditAlways {
			t.Errorf("%s %s: audited but the summary does not say so", rt.method, rt.pattern)
		}
		if rt.access != nil {
			private++
		}
		if rt.audit != auditNone {
			audited++
		}
		if rt.group == "api" && !rt.openQuery {
			for _, p := range rt.params {
				if p.in == "query" && p.schema["type"] != "string" && p.schema["type"] != "integer" && p.schema["type"] != "boolean" {
					t.Errorf("%s %s: the guard cannot check %s's schema %v", rt.method, rt.pattern, p.name, p.schema)
				}
			}
		}
	}
	if private < 6 || audited < 6 {
		t.Errorf("%d routes declare access, %d an audit: the table lost them", private, audited)
	}
}
