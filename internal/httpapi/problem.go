package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

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

// fail is the one place an error becomes a response: a bad parameter is a
// 400 naming it, a request over its time a 503, a domain error the status
// of its code, anything else a 500 whose cause is logged and never shown.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	switch {
	case errors.As(err, &pe):
		writeProblem(w, http.StatusBadRequest, "invalid parameter", pe.detail, pe.param)
		return
	case errors.Is(err, context.DeadlineExceeded):
		writeProblem(w, http.StatusServiceUnavailable, "request took too long", "the request exceeded the server's time limit", "")
		return
	case risk.ErrorCode(err) == risk.EUNAVAILABLE:
		w.Header().Set("Retry-After", "5")
		s.log.Warn("database unavailable", "path", r.URL.Path, "err", err)
	}
	status := map[string]int{
		risk.EINVALID:     http.StatusBadRequest,
		risk.ENOTFOUND:    http.StatusNotFound,
		risk.ECONFLICT:    http.StatusConflict,
		risk.EUNAVAILABLE: http.StatusServiceUnavailable,
	}[risk.ErrorCode(err)]
	if status == 0 {
		status = http.StatusInternalServerError
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeProblem(w, status, http.StatusText(status), risk.ErrorMessage(err), "")
}

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
