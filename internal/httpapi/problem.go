package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, title, detail, param string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Parameter: param})
}

// statusError is an answer a handler returns as an error when it is
// neither a parameter's 400 nor a domain error: a 404 that names the
// missing feature or case, a 415.
type statusError struct {
	status               int
	title, detail, param string
}

func (e *statusError) Error() string { return e.title + ": " + e.detail }

func errStatus(status int, title, detail, param string) error {
	return &statusError{status: status, title: title, detail: detail, param: param}
}

// fail is the one place an error becomes a response: a bad parameter is a
// 400 naming it; a database that cannot be used just now (down, shutting
// down, failing over, read-only, no connection free in time: see
// postgres.Unavailable) or a request over its time a 503 with
// Retry-After, which clients retry; a domain error the status of its
// code; anything else a 500 whose cause is logged and never shown. A
// client that went away gets nothing, and is counted as 499, not as a
// server error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	var se *statusError
	switch {
	case errors.As(err, &pe):
		writeProblem(w, http.StatusBadRequest, "invalid parameter", pe.detail, pe.param)
		return
	case errors.As(err, &se):
		writeProblem(w, se.status, se.title, se.detail, se.param)
		return
	case r.Context().Err() == context.Canceled:
		s.log.Info("client went away", "method", r.Method, "path", r.URL.Path)
		w.WriteHeader(statusClientClosed)
		return
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() != nil:
		w.Header().Set("Retry-After", retryAfter)
		writeProblem(w, http.StatusServiceUnavailable, "request took too long", "the request exceeded the server's time limit", "")
		return
	case risk.ErrorCode(err) == risk.EUNAVAILABLE || postgres.Unavailable(err):
		s.log.Warn("database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", retryAfter)
		writeProblem(w, http.StatusServiceUnavailable, http.StatusText(http.StatusServiceUnavailable), "the database is unavailable; try again shortly", "")
		return
	}
	status := map[string]int{
		risk.EINVALID:  http.StatusBadRequest,
		risk.ENOTFOUND: http.StatusNotFound,
		risk.ECONFLICT: http.StatusConflict,
	}[risk.ErrorCode(err)]
	if status == 0 {
		status = http.StatusInternalServerError
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeProblem(w, status, http.StatusText(status), risk.ErrorMessage(err), "")
}

// retryAfter is the Retry-After of a 503 for an unavailable database, in
// seconds: a pg_auto_failover formation promotes its standby in about 5 s
// (docs/operations.md), a restart takes a few.
const retryAfter = "2"

// statusClientClosed is what the metrics and the log count for a request
// whose client went away before the answer (nginx's 499): not a server error.
const statusClientClosed = 499

// recoverer turns a panic into a 500 problem without a stack trace in the body.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeProblem(w, http.StatusInternalServerError, "Internal Server Error", "internal error", "")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
