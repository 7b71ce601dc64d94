package httpapi

import (
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/web"
)

var mapPage = template.Must(template.ParseFS(web.Static, "static/index.html"))

// handleMap serves the map page. A basemap is drawn only when the server is
// given one (serve --basemap); without it the page needs nothing but this
// service.
func (s *Server) handleMap() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		img, connect := "'self' data: blob:", "'self'"
		if o := origin(s.opt.BasemapURL); o != "" {
			img, connect = img+" "+o, connect+" "+o
		}
		if o := origin(s.opt.PMTilesURL); o != "" {
			connect += " " + o // the archives are read by range requests
		}
		h.Set("Content-Security-Policy", "default-src 'self'; img-src "+img+"; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; connect-src "+connect+"; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Type", "text/html; charset=utf-8")
		_ = mapPage.Execute(w, map[string]string{"Basemap": s.opt.BasemapURL, "PMTiles": strings.TrimSuffix(s.opt.PMTilesURL, "/"),
			"Bounds": s.mapBounds(r.Context())})
	}
}

// mapBounds is the villages' extent, "minLon,minLat,maxLon,maxLat", that
// the map page opens on: in the page, so that its first tiles are the
// data's and not those of a view it would leave a moment later. Kept per
// data version; "" when there are no villages or it cannot be read (the
// page then asks the villages' TileJSON).
func (s *Server) mapBounds(ctx context.Context) string {
	v, err := s.version.get(ctx)
	if err != nil {
		return ""
	}
	s.boundsMu.Lock()
	defer s.boundsMu.Unlock()
	if s.boundsVersion == v {
		return s.bounds
	}
	var c *postgres.Collection
	for _, x := range s.collections {
		if x.ID == "villages" {
			c = x
		}
	}
	if c == nil {
		return ""
	}
	b, has, err := s.db.Extent(ctx, &postgres.ItemsQuery{Collection: c})
	if err != nil {
		return ""
	}
	s.bounds, s.boundsVersion = "", v
	if has {
		s.bounds = fmt.Sprintf("%.5f,%.5f,%.5f,%.5f", b[0], b[1], b[2], b[3])
	}
	return s.bounds
}

// origin is the scheme and host of an absolute URL, or "".
func origin(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return ""
}

func (s *Server) handleStatic() http.Handler {
	sub, _ := fs.Sub(web.Static, "static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
