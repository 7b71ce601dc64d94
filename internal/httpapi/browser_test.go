package httpapi_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// TestMapInBrowser drives Debian's chromium with playwright-core against the
// map page over the scored demo region (web/test/map.mjs holds the checks).
// `make test` installs chromium and the page's npm packages. With
// RISKMAP_SCREENSHOT=1 the screenshot goes to docs/screenshot.png.
func TestMapInBrowser(t *testing.T) {
	t.Parallel()
	dbtest.NeedsClients(t)
	root := dbtest.RepoRoot(t)
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(root, "web", "node_modules", "playwright-core")); err != nil {
		t.Fatal("web/node_modules/playwright-core is missing: run make web (make test does)")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil && os.Getenv("CHROMIUM") == "" {
		t.Fatal("chromium is not installed: apt-get install chromium (make test does so as root)")
	}
	// The 783 real villages with a synthetic survey, as make run serves them.
	url := dbtest.URL(t)
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	households := 20000
	if os.Getenv("RISKMAP_SCREENSHOT") == "1" {
		households = 60000 // the README's picture: most villages with published figures
	}
	// Two rounds with cases and visits, as make run loads them.
	dbtest.LoadRealRounds(t, db, households, 20200218, time.Now(), nil)
	if _, err := db.Pool.Exec(context.Background(), `UPDATE import_run SET synthetic = true WHERE kind = 'survey'; UPDATE score_run SET synthetic = true`); err != nil {
		t.Fatal(err)
	}
	restricted, err := postgres.OpenAs(context.Background(), url, postgres.ServeRole, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restricted.Close)
	srv := serve(t, restricted)
	key, _, err := db.CreateKey(context.Background(), "browser test", "planner", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "screenshot.png")
	if os.Getenv("RISKMAP_SCREENSHOT") == "1" {
		shot = filepath.Join(root, "docs", "screenshot.png")
	}
	cmd := exec.Command("node", filepath.Join(root, "web", "test", "map.mjs"), srv.URL, shot)
	cmd.Dir = filepath.Join(root, "web")
	cmd.Env = append(os.Environ(), "RISKMAP_TEST_KEY="+key)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("browser test failed: %v\n%s", err, out)
	}
	for _, want := range []string{"ok: no page errors", "requests carried the key", "in Bahasa Indonesia by default", "English, remembered",
		"village names drawn", "numbered on the map", "villages named Alastengah", "not found", "unknown key", "restored from the URL",
		"printed to PDF", "CSV", "colouring by score class", "kecamatan view", "survey rounds in the panel"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the browser test did not check %q", want)
		}
	}
	if !strings.Contains(string(out), "ok: no page errors") || !strings.Contains(string(out), "requests carried the key") {
		t.Errorf("the browser test did not finish:\n%s", out)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("no screenshot: %v", err)
	}
}
