package httpapi

import (
	"encoding/json"
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

// writeError turns an error into a problem response. Internal errors are
// logged with their cause and shown to the caller only as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
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
