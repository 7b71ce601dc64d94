// Package httpapi is riskmap's HTTP interface on chi: GeoJSON layers for
// browsers and GIS tools, health checks, and RFC 9457 problem responses.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// Server holds the dependencies of the handlers.
type Server struct {
	db  *postgres.DB
	log *slog.Logger
}

// NewServer returns a server over db that logs to log.
func NewServer(db *postgres.DB, log *slog.Logger) *Server {
	return &Server{db: db, log: log}
}

// Handler returns the router with every route.
func (s *Server) Handler() http.Handler { return s.routes() }
