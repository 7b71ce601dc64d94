package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

func handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	}
}

// handleReadyz answers 200 when the database answers and its schema is current.
func (s *Server) handleReadyz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		cur, latest, err := s.db.SchemaVersion(ctx)
		if err != nil {
			w.Header().Set("Retry-After", retryAfter)
			writeProblem(w, http.StatusServiceUnavailable, "database unavailable", "the database does not answer", "")
			return
		}
		if cur != latest {
			writeProblem(w, http.StatusServiceUnavailable, "schema not current", "run 'riskmap migrate'", "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "ready", "schema_version": cur})
	}
}
