package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// handleEraseHousehold serves DELETE /households/{uuid}?reason=... to
// admins: a household withdraws its consent or asks for erasure (UU
// 27/2022). It runs the same database function as `riskmap households
// erase`, which records the erasure and an audit entry in the same
// transaction. To anyone else the route does not exist.
func (s *Server) handleEraseHousehold() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principal(r) // an admin: the route's guard let no one else in
		reason := strings.TrimSpace(r.URL.Query().Get("reason"))
		if reason == "" {
			return badParam("reason", "required: why the household is erased (e.g. consent withdrawn)")
		}
		uuid := chi.URLParam(r, "uuid")
		village, err := s.db.EraseHousehold(r.Context(), postgres.Erasure{UUID: uuid, By: "api key " + p.Name, Reason: reason,
			Kind: "request", KeyID: p.KeyID, Role: string(p.Role)})
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "private, no-store")
		s.respond(w, r, "json", typeJSON, "Household erased", map[string]any{
			"erased": uuid, "village_code": village,
			"note": "the household's data is gone; the published figures count it until the next scoring run"})
		return nil
	}
}
