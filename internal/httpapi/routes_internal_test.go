package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// TestEveryRouteIsInTheAPI walks the router chi actually built and checks
// that /api documents every route, method and all, for every collection.
func TestEveryRouteIsInTheAPI(t *testing.T) {
	s := &Server{base: "http://riskmap.test", metrics: newMetrics(), collections: postgres.Collections()}
	api := s.openAPI(s.base, s.collections)
	paths := api["paths"].(obj)
	n := 0
	err := chi.Walk(s.routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		n++
		path := strings.ReplaceAll(route, "/*", "/{path}")
		want := []string{path}
		if strings.HasPrefix(path, "/collections/{collection}") {
			want = nil
			for _, c := range s.collections {
				want = append(want, strings.ReplaceAll(path, "{collection}", c.ID))
			}
		}
		for _, p := range want {
			ops, ok := paths[p].(obj)
			if !ok {
				t.Errorf("route %s %s: /api has no path %s", method, route, p)
				continue
			}
			if _, ok := ops[strings.ToLower(method)]; !ok {
				t.Errorf("route %s %s: /api documents %s without %s", method, route, p, method)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Errorf("walked %d routes", n)
	}
	// And the limit the GIS clients page by is declared.
	items := paths["/collections/villages/items"].(obj)["get"].(obj)["parameters"].([]obj)
	found := false
	for _, p := range items {
		if p["name"] == "limit" && p["schema"].(obj)["maximum"] == MaxLimit {
			found = true
		}
	}
	if !found {
		t.Error("the items limit parameter declares no maximum")
	}
}
