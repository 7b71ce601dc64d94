package postgres_test

import (
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// TestGISSafeFields: what a collection serves by default, every GIS format
// can store: no objects or arrays (each has flat fields beside it), and
// names unique in their first 10 characters (Shapefile's limit), so a
// Shapefile keeps every field under a predictable name.
func TestGISSafeFields(t *testing.T) {
	t.Parallel()
	for _, c := range append(postgres.Collections(), postgres.MaskedHouseholds()) {
		seen := map[string]string{"id": "id"}
		names := map[string]bool{}
		for _, p := range c.Properties {
			names[p.Name] = true
		}
		for _, p := range c.Properties {
			if p.Nested() {
				flat := map[string]string{"components": "c_", "monthly": "m01", "children": "n_children"}[p.Name]
				found := false
				for n := range names {
					if flat != "" && strings.HasPrefix(n, flat) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s.%s is %s with no flat fields beside it", c.ID, p.Name, p.Type)
				}
				continue
			}
			short := strings.ToLower(p.Name)
			if len(short) > 10 {
				short = short[:10]
			}
			if prev, dup := seen[short]; dup {
				t.Errorf("%s: %s and %s are the same in their first 10 characters (%s): a Shapefile would rename one", c.ID, prev, p.Name, short)
			}
			seen[short] = p.Name
		}
	}
}
