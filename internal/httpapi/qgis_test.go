package httpapi_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/dbtest"
)

// TestQGISClient drives QGIS itself (python3-qgis, headless; `make test`
// installs it): a GIS officer loads the villages over OGC API - Features,
// saves them as a GeoPackage with every field, and loads the households of
// their kecamatan with the API key as a Basic password.
func TestQGISClient(t *testing.T) {
	t.Parallel()
	dbtest.NeedsClients(t)
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import qgis.core").Run(); err != nil {
		t.Fatalf("QGIS's Python bindings are not installed: install python3-qgis (make test does so as root): %v", err)
	}
	srv, db := newServer(t)
	ctx := context.Background()
	staff, _, err := db.CreateKey(ctx, "Besuk facilitator", "staff", []string{"35.13.13"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gpkg := filepath.Join(t.TempDir(), "villages.gpkg")
	cmd := exec.Command(python, filepath.Join("testdata", "qgis_client.py"), srv.URL+"/", gpkg, staff)
	runtime := t.TempDir()
	os.Chmod(runtime, 0o700)
	cmd.Env = append(cmd.Environ(), "QT_QPA_PLATFORM=offscreen", "XDG_RUNTIME_DIR="+runtime, "HOME="+t.TempDir())
	raw, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("QGIS: %v\n%s\n%s", err, raw, stderr)
	}
	line := raw[strings.LastIndex(strings.TrimSpace(string(raw)), "\n")+1:]
	var got struct {
		VillagesValid   bool              `json:"villages_valid"`
		Villages        int               `json:"villages"`
		Fields          map[string]string `json:"fields"`
		SaveError       int               `json:"save_error"`
		SaveMessage     string            `json:"save_message"`
		Saved           int               `json:"saved"`
		SavedFields     []string          `json:"saved_fields"`
		HouseholdsValid bool              `json:"households_valid"`
		Households      int               `json:"households"`
		PublicValid     bool              `json:"households_without_key_valid"`
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("QGIS printed %s: %v", raw, err)
	}
	var villages, besuk int
	db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM village), (SELECT count(*) FROM household WHERE village_code LIKE '35.13.13.%')`).Scan(&villages, &besuk)
	if !got.VillagesValid || got.Villages != villages {
		t.Errorf("QGIS loads %d villages (valid %v), the database has %d", got.Villages, got.VillagesValid, villages)
	}
	for name, typ := range map[string]string{"score": "Real", "households": "Integer", "m08": "Real", "c_prevalence": "Real", "tier": "String"} {
		if got.Fields[name] != typ {
			t.Errorf("QGIS types %s as %q, want %s", name, got.Fields[name], typ)
		}
	}
	if got.SaveError != 0 || got.Saved != villages {
		t.Errorf("Save Features As GeoPackage: error %d %q, %d features saved of %d", got.SaveError, got.SaveMessage, got.Saved, villages)
	}
	for name := range got.Fields {
		if !slices.Contains(got.SavedFields, name) {
			t.Errorf("the saved GeoPackage lacks field %s", name)
		}
	}
	if !got.HouseholdsValid || got.Households != besuk || besuk == 0 {
		t.Errorf("households over Basic auth: valid %v, %d features; want Besuk's %d", got.HouseholdsValid, got.Households, besuk)
	}
	if got.PublicValid {
		t.Error("QGIS loads the households without a key")
	}
}
