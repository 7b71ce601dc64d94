package httpapi

import (
	"html/template"
	"io/fs"
	"net/http"
	"net/url"

	"github.com/kesempatan/riskmap/web"
)

var mapPage = template.Must(template.ParseFS(web.Static, "static/index.html"))

// handleMap serves the map page. A basemap is drawn only when the server is
// given one (serve --basemap); without it the page needs nothing but this
// service.
func (s *Server) handleMap() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		csp := "default-src 'self'; img-src 'self' data: blob:; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'"
		if u, err := url.Parse(s.opt.BasemapURL); err == nil && u.Host != "" {
			o := u.Scheme + "://" + u.Host
			csp = "default-src 'self'; img-src 'self' data: blob: " + o + "; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; connect-src 'self' " + o
		}
		h.Set("Content-Security-Policy", csp+"; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Type", "text/html; charset=utf-8")
		_ = mapPage.Execute(w, map[string]string{"Basemap": s.opt.BasemapURL})
	}
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
