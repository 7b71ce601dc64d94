package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"time"

	"github.com/kesempatan/riskmap/internal/demo"
	"github.com/kesempatan/riskmap/internal/demoload"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

const demoSynopsis = `demo load|generate [flags]

  load --real [--households 40000] [--if-empty]
      load the 783 real villages, 76 kecamatan and 3 kabupaten of
      geodata/boundaries and a synthetic survey laid over them (generated with
      the demo seed; labelled synthetic wherever it is shown), the pilots'
      institutions, then score them: what make run shows. The survey has two
      rounds (baseline March 2026, follow-up six months on), a scoring run
      after each, and the case visits staff would have made by today
  load [--dir geodata/demo] [--if-empty]
      load the committed demo region: villages (and the kecamatan and kabupaten
      dissolved from them), the labour calendar, tobacco fields, institutions
      and surveys, then score them with the default model
  generate --households N --out DIR [--seed S] [--fields N] [--own-region]
      write KoBoToolbox-style households.csv and children.csv, plantations.geojson
      and calendar.csv; households are placed in the villages already in the
      database when it holds any, else in the demo region (villages.geojson too)`

// DemoSeed is the seed of the committed demo region (the day the source
// article was published).
const DemoSeed = 20200218

func demoCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "load" && args[0] != "generate") {
		fmt.Fprintf(e.stderr, "Usage: riskmap %s\n", demoSynopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errors.New("demo: want load or generate")
	}
	fs := e.flags("demo "+args[0], demoSynopsis)
	switch args[0] {
	case "load":
		dir := fs.String("dir", filepath.Join("geodata", "demo"), "folder of the demo data")
		ifEmpty := fs.Bool("if-empty", false, "do nothing when the database holds villages already")
		real := fs.Bool("real", false, "the real villages of geodata/boundaries with a synthetic survey")
		households := fs.Int("households", 40000, "with --real: households to generate")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *real {
			return demoLoadReal(ctx, e, *households, *ifEmpty)
		}
		return demoLoad(ctx, e, *dir, *ifEmpty)
	default:
		n := fs.Int("households", 2000, "number of households")
		out := fs.String("out", "", "folder to write to (required)")
		seed := fs.Uint64("seed", DemoSeed, "random seed; the same seed writes the same files")
		fields := fs.Int("fields", 0, "number of tobacco fields (default: one per 8 households)")
		own := fs.Bool("own-region", false, "use the demo region even when the database holds villages")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" || *n < 0 {
			fs.Usage()
			return errors.New("demo generate: --out is required and --households must be >= 0")
		}
		return demoGenerate(ctx, e, *out, demo.Options{Seed: *seed, Households: *n, Fields: *fields}, *own)
	}
}

func demoGenerate(ctx context.Context, e *env, out string, opt demo.Options, own bool) error {
	var villages []demo.Village
	if !own {
		if db, err := postgres.Open(ctx, e.databaseURL()); err != nil {
			fmt.Fprintf(e.stderr, "riskmap: no database to take villages from (%v); using the demo region\n", err)
		} else {
			shapes, err := db.VillageShapes(ctx)
			db.Close()
			if err != nil {
				return err
			}
			for _, s := range shapes {
				villages = append(villages, demo.Village{Code: s.Code, Name: s.Name, KecamatanCode: s.KecamatanCode, Geom: s.Geom, Risk: codeRisk(s.Code)})
			}
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if len(villages) == 0 {
		villages = demo.Region(opt.Seed)
		if err := demo.WriteVillages(out, villages); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %d demo villages to %s\n", len(villages), filepath.Join(out, demo.VillagesFile))
	} else {
		fmt.Fprintf(e.stdout, "placing households in the %d villages of the database\n", len(villages))
	}
	if err := demo.Generate(out, villages, opt); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %d households with children, tobacco fields and the calendar to %s\n", opt.Households, out)
	return nil
}

// codeRisk gives a real village a stable made-up risk level from its code,
// so generated surveys differ from village to village.
func codeRisk(code string) float64 {
	h := fnv.New32a()
	h.Write([]byte(code))
	return 0.1 + 0.4*float64(h.Sum32()%1000)/1000
}

func demoLoad(ctx context.Context, e *env, dir string, ifEmpty bool) error {
	db, skip, err := openForDemo(ctx, e, ifEmpty)
	if err != nil || skip {
		return err
	}
	defer db.Close()
	path := func(name string) string { return filepath.Join(dir, name) }
	opt := postgres.ImportOptions{Synthetic: true}
	sum, err := importBoundaries(ctx, db, path(demo.VillagesFile), ingest.BoundaryOptions{Level: "desa"}, opt)
	if err != nil {
		return err
	}
	printSummary(e.stdout, sum)
	if err := db.DeriveParents(ctx, demo.ParentNames); err != nil {
		return fmt.Errorf("derive kecamatan and kabupaten: %w", err)
	}
	if sum, err = importCalendar(ctx, db, path(demo.CalendarFile), opt); err != nil {
		return err
	}
	printSummary(e.stdout, sum)
	if sum, err = importPlantations(ctx, db, path(demo.PlantationsFile), opt); err != nil {
		return err
	}
	printSummary(e.stdout, sum)
	if sum, err = importInstitutions(ctx, db, path(demo.InstitutionFile), opt); err != nil {
		return err
	}
	printSummary(e.stdout, sum)
	if sum, err = importSurvey(ctx, db, path(demo.HouseholdsFile), ingest.SurveyOptions{Children: path(demo.ChildrenFile)}, 1000, "", "", opt); err != nil {
		return err
	}
	printSummary(e.stdout, sum)
	return scoreCmd(ctx, e, nil)
}

// demoLoadReal loads the real boundaries and a synthetic survey over them.
func demoLoadReal(ctx context.Context, e *env, households int, ifEmpty bool) error {
	db, skip, err := openForDemo(ctx, e, ifEmpty)
	if err != nil || skip {
		return err
	}
	defer db.Close()
	real := postgres.ImportOptions{}
	for _, level := range []string{"kabupaten", "kecamatan", "desa"} {
		file := filepath.Join(BoundaryDir, "jatim-"+level+".geojson")
		sum, err := importBoundaries(ctx, db, file, ingest.BoundaryOptions{Level: level}, real)
		if err != nil {
			return err
		}
		printSummary(e.stdout, sum)
	}
	shapes, err := db.VillageShapes(ctx)
	if err != nil {
		return err
	}
	var villages []demo.Village
	for _, s := range shapes {
		villages = append(villages, demo.Village{Code: s.Code, Name: s.Name, KecamatanCode: s.KecamatanCode, Geom: s.Geom,
			Risk: codeRisk(s.Code), Programme: demo.IsPilot(s.Code)})
	}
	tmp, err := os.MkdirTemp("", "riskmap-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The pilots surveyed in full, as the programme did; the rest a sample
	// in proportion to each village's area.
	opt := demo.Options{Seed: DemoSeed, Households: households, FollowUp: true, Census: demo.CensusDensity}
	if err := demo.Generate(tmp, villages, opt); err != nil {
		return err
	}
	path := func(name string) string { return filepath.Join(tmp, name) }
	synthetic := postgres.ImportOptions{Synthetic: true}
	sum, err := importCalendar(ctx, db, path(demo.CalendarFile), real)
	if err != nil {
		return err
	}
	printSummary(e.stdout, sum)
	if sum, err = importPlantations(ctx, db, path(demo.PlantationsFile), synthetic); err != nil {
		return err
	}
	printSummary(e.stdout, sum)
	// The pilots' institutions, from the programme's article (real codes).
	if sum, err = importInstitutions(ctx, db, filepath.Join("geodata", "demo", demo.InstitutionFile), real); err != nil {
		return err
	}
	printSummary(e.stdout, sum)
	m, err := risk.DefaultModel()
	if err != nil {
		return err
	}
	// Two survey rounds six months apart, a scoring run after each (the
	// first opens the cases), and the visits staff would have made by today.
	err = demoload.TwoRounds(ctx, db, m, tmp, DemoSeed, time.Now(), synthetic, demoload.Report{
		Import: func(s ingest.Summary) { printSummary(e.stdout, s) },
		Score:  func(r postgres.ScoreRun) { printScore(e, r) },
	})
	if err != nil {
		return err
	}
	if err := renderTiles(ctx, e, db); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "the survey is synthetic: generated households over the real villages, in two rounds with case visits, for demonstration only")
	return nil
}

// openForDemo opens the database for a demo load; skip is true (and the
// database closed) when ifEmpty and it holds villages already.
func openForDemo(ctx context.Context, e *env, ifEmpty bool) (db *postgres.DB, skip bool, err error) {
	if db, err = e.open(ctx); err != nil {
		return nil, false, err
	}
	if !ifEmpty {
		return db, false, nil
	}
	counts, err := db.Counts(ctx)
	if err != nil {
		db.Close()
		return nil, false, fmt.Errorf("%w (has the database been migrated? run 'riskmap migrate')", err)
	}
	if counts["village"] > 0 {
		db.Close()
		fmt.Fprintf(e.stdout, "the database holds %d villages already; demo not loaded\n", counts["village"])
		return nil, true, nil
	}
	return db, false, nil
}
