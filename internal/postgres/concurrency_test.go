package postgres_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// TestImportWhileScoring runs boundary imports and scoring runs at the
// same time, as an operator re-importing a kabupaten's boundaries while
// the nightly run scores would. Both write the map's inputs, and both move
// the map's generation (map_state, migration 022) in their transaction: a
// lock that orders them. Neither may fail (a deadlock would abort one of
// them), both must commit, and the generation must move past both; the
// tiles rendered afterwards are complete at the new generation.
func TestImportWhileScoring(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	dbtest.LoadRealRegion(t, db, 3000, 23)
	m := defaultModel(t)
	dir := dbtest.SharedGeodata(t)
	desa, desaProblems := readBoundaries(t, "desa", filepath.Join(dir, "jatim-desa.geojson"))
	kec, kecProblems := readBoundaries(t, "kecamatan", filepath.Join(dir, "jatim-kecamatan.geojson"))
	generation := func() int64 {
		var g int64
		if err := db.Pool.QueryRow(ctx, `SELECT generation FROM map_state`).Scan(&g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	before := generation()
	overlapped := 0
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 3)
		var spans [3][2]time.Time // when each writer started and returned
		run := func(i int, f func() error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				spans[i][0] = time.Now()
				errs[i] = f()
				spans[i][1] = time.Now()
			}()
		}
		run(0, func() error { _, err := db.Score(ctx, m, 0); return err })
		run(1, func() error {
			_, err := db.ImportBoundaries(ctx, "desa", "jatim-desa.geojson", desa, desaProblems, postgres.ImportOptions{})
			return err
		})
		run(2, func() error {
			_, err := db.ImportBoundaries(ctx, "kecamatan", "jatim-kecamatan.geojson", kec, kecProblems, postgres.ImportOptions{})
			return err
		})
		wg.Wait()
		// The scoring run and an import were in flight at once.
		for _, i := range []int{1, 2} {
			if spans[0][0].Before(spans[i][1]) && spans[i][0].Before(spans[0][1]) {
				overlapped++
			}
		}
		for i, what := range []string{"scoring run", "village import", "kecamatan import"} {
			if errs[i] != nil {
				t.Errorf("round %d: the %s failed beside the others: %v", round, what, errs[i])
			}
		}
	}
	if overlapped == 0 {
		t.Error("the scoring runs and the imports never ran at the same time: nothing was tested")
	}
	if after := generation(); after < before+9 {
		t.Errorf("generation %d before, %d after three rounds of three writers: some did not move it", before, after)
	}
	var villages int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM village`).Scan(&villages); err != nil {
		t.Fatal(err)
	}
	if villages != len(desa) {
		t.Errorf("%d villages after the imports, want %d", villages, len(desa))
	}
	st, err := db.RenderTiles(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var incomplete int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM tile_render_layer WHERE generation <> (SELECT generation FROM map_state)`).Scan(&incomplete); err != nil {
		t.Fatal(err)
	}
	if st.Tiles == 0 || incomplete != 0 {
		t.Errorf("after the writers: %d tiles rendered, %d layer-months not at the current generation", st.Tiles, incomplete)
	}
}
