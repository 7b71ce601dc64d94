package httpapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// TestAPIDocumentIsValidOpenAPI hands the document /api serves (every
// collection, as an admin sees it) to an independent validator,
// swagger-parser (web/test/openapi.mjs), which checks it against the
// OpenAPI 3.0 schema and the specification's rules. Client generators and
// conformance tools refuse a document it refuses. `make test` installs it.
func TestAPIDocumentIsValidOpenAPI(t *testing.T) {
	t.Parallel()
	dbtest.NeedsClients(t)
	root := dbtest.RepoRoot(t)
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(root, "web", "node_modules", "@apidevtools", "swagger-parser")); err != nil {
		t.Fatal("web/node_modules/@apidevtools/swagger-parser is missing: run make tools (make test does)")
	}
	s := &Server{base: "http://riskmap.test", metrics: newMetrics(), collections: postgres.Collections(), masked: postgres.MaskedHouseholds()}
	// The three documents /api serves: to the public, to planners (the
	// masked households) and to staff (every collection).
	var public, planner []*postgres.Collection
	for _, c := range s.collections {
		switch {
		case !c.Private:
			public, planner = append(public, c), append(planner, c)
		case c.ID == "households":
			planner = append(planner, s.masked)
		}
	}
	for _, view := range []struct {
		name        string
		collections []*postgres.Collection
	}{{"public", public}, {"planner", planner}, {"staff", s.collections}} {
		t.Run(view.name, func(t *testing.T) {
			doc, err := json.Marshal(s.openAPI(s.base, view.collections))
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "api.json")
			if err := os.WriteFile(file, doc, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("node", filepath.Join(root, "web", "test", "openapi.mjs"), file)
			cmd.Dir = filepath.Join(root, "web")
			out, err := cmd.CombinedOutput()
			if err != nil {
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				if len(lines) > 40 {
					lines = append(lines[:40], "...")
				}
				t.Fatalf("swagger-parser refuses the API document (%v):\n%s", err, strings.Join(lines, "\n"))
			}
			if !strings.HasPrefix(string(out), "valid: OpenAPI 3.0") {
				t.Fatalf("validator said: %s", out)
			}
			t.Log(strings.TrimSpace(string(out)))
			checkOpenAPIRules(t, s.openAPI(s.base, view.collections))
		})
	}
}

// checkOpenAPIRules checks the rules of OpenAPI 3.0 that its JSON schema
// cannot express and swagger-parser checks only for Swagger 2.0: each
// template {name} of a path has exactly one required path parameter of
// that name and each path parameter a template; operationIds are unique;
// no parameter is declared twice.
func checkOpenAPIRules(t *testing.T, api obj) {
	t.Helper()
	ids := map[string]string{}
	for path, ops := range api["paths"].(obj) {
		var templates []string
		for rest := path; ; {
			i := strings.Index(rest, "{")
			if i < 0 {
				break
			}
			j := strings.Index(rest[i:], "}")
			templates = append(templates, rest[i+1:i+j])
			rest = rest[i+j+1:]
		}
		for method, o := range ops.(obj) {
			op := o.(obj)
			id, _ := op["operationId"].(string)
			if prev, dup := ids[id]; dup {
				t.Errorf("operationId %q on %s %s and %s", id, method, path, prev)
			}
			ids[id] = method + " " + path
			inPath := map[string]int{}
			seen := map[string]bool{}
			params, ok := op["parameters"].([]obj)
			if !ok && op["parameters"] != nil {
				t.Fatalf("%s %s: parameters of type %T", method, path, op["parameters"])
			}
			for _, p := range params {
				key := p["in"].(string) + ":" + p["name"].(string)
				if seen[key] {
					t.Errorf("%s %s: parameter %s declared twice", method, path, key)
				}
				seen[key] = true
				if p["in"] == "path" {
					inPath[p["name"].(string)]++
					if p["required"] != true {
						t.Errorf("%s %s: path parameter %s is not required", method, path, p["name"])
					}
				}
			}
			for _, name := range templates {
				if inPath[name] != 1 {
					t.Errorf("%s %s: {%s} has %d path parameters, want 1", method, path, name, inPath[name])
				}
				delete(inPath, name)
			}
			for name := range inPath {
				t.Errorf("%s %s: path parameter %s is not in the path", method, path, name)
			}
		}
	}
}
