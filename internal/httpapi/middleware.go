package httpapi

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// observe logs every request with its id and records it in the metrics,
// by route pattern (not raw path, which would grow without bound).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.observe(r.Method, route, status, d)
		s.log.Info("request", "id", middleware.GetReqID(r.Context()), "method", r.Method, "path", r.URL.Path,
			"route", route, "status", status, "bytes", ww.BytesWritten(), "ms", float64(d.Microseconds())/1000)
	})
}

// release says on every API response which release (GET /releases) its
// published figures come from: the X-Riskmap-Release header, from the data
// version the caches already read (at most once a second). A response that
// could not read it (the database is away) goes without the header; the
// handler reports the outage itself.
func (s *Server) release(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, err := s.version.get(r.Context()); err == nil {
			if rel := postgres.ReleaseOf(v); rel != "" && rel != "0" {
				w.Header().Set(ReleaseHeader, rel)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// ReleaseHeader names the release a response serves.
const ReleaseHeader = "X-Riskmap-Release"

// cors lets the configured origins read the API from a browser.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (slices.Contains(s.opt.CORSOrigins, "*") || slices.Contains(s.opt.CORSOrigins, origin)) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Expose-Headers", "ETag, X-Limit-Clamped")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Accept, Authorization, If-None-Match")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// timeout bounds a request; its context, and so its database queries, end
// with it, as they do when the client goes away.
func (s *Server) timeout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opt.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
