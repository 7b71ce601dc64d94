package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/kesempatan/riskmap/internal/risk"
)

type principalKey struct{}

// principal is who made the request: an API key's role and areas, or the public.
func principal(r *http.Request) risk.Principal {
	if p, ok := r.Context().Value(principalKey{}).(risk.Principal); ok {
		return p
	}
	return risk.Public
}

// authenticate reads "Authorization: Bearer KEY", or "Authorization: Basic"
// with the API key as the password (any user name): QGIS, ArcGIS and GDAL
// all send Basic. No header is the public; a malformed header or an
// unknown, expired or revoked key is a 401 that offers both schemes.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		key, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			if _, password, basic := r.BasicAuth(); basic {
				key, ok = password, true
			}
		}
		if !ok || len(key) < 10 || len(key) > 200 {
			s.authFailed(r)
			challenge(w, r, "")
			writeProblem(w, http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <API key>, or HTTP Basic with the API key as the password", "Authorization")
			return
		}
		p, err := s.db.Authenticate(r.Context(), strings.TrimSpace(key))
		if err != nil {
			if risk.ErrorCode(err) == risk.EUNAVAILABLE {
				s.fail(w, r, err)
				return
			}
			s.authFailed(r)
			challenge(w, r, `, error="invalid_token"`)
			writeProblem(w, http.StatusUnauthorized, "unauthorized", "the API key is unknown, expired or revoked", "Authorization")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// challenge names the schemes a client may answer with. Basic is offered
// only to a client that sent Basic (a GIS tool): to a browser's Bearer
// request a Basic challenge would open the browser's own login dialog.
func challenge(w http.ResponseWriter, r *http.Request, bearerError string) {
	w.Header().Add("WWW-Authenticate", `Bearer realm="riskmap"`+bearerError)
	if strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
		w.Header().Add("WWW-Authenticate", `Basic realm="riskmap", charset="UTF-8"`)
	}
}
