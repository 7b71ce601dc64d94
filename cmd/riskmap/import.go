package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

const importSynopsis = `import boundaries|survey|visits|kobo|odk|plantations|calendar|institutions|follow-ups [flags] FILE

  boundaries --level kabupaten|kecamatan|desa FILE.geojson
  survey EXPORT [--children CHILDREN.csv] [--no-children] [--round ID [--round-label L]]
        EXPORT: a KoBoToolbox export (CSV with ; or , and with or without
        group names, XML names or labels; XLS(X) with its repeat sheet;
        "CSV (legacy)") or an ODK Central export (CSV, or its zip).
        --round: the survey round of every submission (created if new);
        default: each submission's round by its date (a declared round
        whose dates cover it, else the calendar year's round "2027").
        Households are matched to earlier rounds (README, "Follow-up").
  visits EXPORT                                     (the case visit form, geodata/forms/kesempatan-visit.xlsx:
                                                    KoBoToolbox CSV/XLSX or ODK Central CSV/zip)
  kobo --server URL --asset UID --token-file F      (pull from KoBoToolbox's API)
  odk --server URL --project N --form ID --user U --password-file F
                                                    (pull from ODK Central's OData feed)
  plantations FILE.geojson                          (tobacco fields: id, variety, planting_date)
  calendar FILE.csv                                 (variety, month, labour_index[, note])
  institutions FILE.csv                             (village_code, kind, established[, note]);
                                                    kind: task_force, forum_anak or perdes
  follow-ups FILE.csv                               (survey_uuid, started_on[, ended_on][, note])

Each import is all-or-nothing per file and idempotent (a re-import updates).
A bad row stops the import and is reported with file, row, column and reason;
with --reject-file PATH the good rows load and every bad row is written there,
and the exit status is still 1 (--allow-rejects makes it 0). An empty file, or
one of which no row loads, is an error and changes nothing. Survey households
that did not consent (consent = no) are skipped and counted, not stored.`

func importCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "Usage: riskmap %s\n", importSynopsis)
		if len(args) == 0 {
			return errors.New("import: what to import? boundaries, survey, visits, kobo, odk, plantations, calendar, institutions or follow-ups")
		}
		return nil
	}
	kind := args[0]
	if kind == "kobo" || kind == "odk" {
		return pullCmd(ctx, e, kind, args[1:])
	}
	fs := e.flags("import "+kind, importSynopsis)
	rejectFile := fs.String("reject-file", "", "load the good rows and write every rejected row, with its reason, to this CSV file")
	allowRejects := fs.Bool("allow-rejects", false, "with --reject-file: exit 0 although rows were rejected (for scripts)")
	var level, codeProp, nameProp, parentProp, children, round, roundLabel *string
	var noChildren *bool
	var maxDist *float64
	switch kind {
	case "boundaries":
		level = fs.String("level", "", "administrative level of the file: kabupaten, kecamatan or desa (required)")
		codeProp = fs.String("code-property", "code", "property holding the Kemendagri code")
		nameProp = fs.String("name-property", "name", "property holding the name")
		parentProp = fs.String("parent-property", "", "property holding the parent's code (default kecamatan_code for desa, kabupaten_code for kecamatan)")
	case "survey":
		children = fs.String("children", "", "the repeat sheet of children as a CSV (KoBoToolbox: _parent_index; ODK: PARENT_KEY), when the export does not hold it")
		noChildren = fs.Bool("no-children", false, "the export truly holds no children: load its households alone")
		maxDist = fs.Float64("max-village-distance", 1000, "reject a household whose point lies more than this many metres from the village it names")
		round = fs.String("round", "", "the survey round of every submission, e.g. 2027-followup (default: by submission date)")
		roundLabel = fs.String("round-label", "", "with a new --round: its label, e.g. \"Follow-up 2027\"")
	case "plantations", "calendar", "institutions", "follow-ups", "visits":
	default:
		return fmt.Errorf("import: unknown kind %q: want boundaries, survey, visits, kobo, odk, plantations, calendar, institutions or follow-ups", kind)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	// Flags may follow the file too: riskmap import survey hh.csv --children c.csv
	var files []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		files = append(files, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return err
		}
	}
	if len(files) != 1 {
		fs.Usage()
		return fmt.Errorf("import %s: want exactly one file, got %d", kind, len(files))
	}
	file := files[0]
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	opt := postgres.ImportOptions{Partial: *rejectFile != ""}
	bar := newProgressBar(e)
	opt.Progress = bar.update
	var sum ingest.Summary
	switch kind {
	case "boundaries":
		sum, err = importBoundaries(ctx, db, file, ingest.BoundaryOptions{Level: *level, CodeProp: *codeProp, NameProp: *nameProp, ParentProp: *parentProp}, opt)
	case "survey":
		sum, err = importSurvey(ctx, db, file, ingest.SurveyOptions{Children: *children, NoChildren: *noChildren}, *maxDist, *round, *roundLabel, opt)
	case "visits":
		sum, err = importVisits(ctx, db, file, opt)
	case "plantations":
		sum, err = importPlantations(ctx, db, file, opt)
	case "calendar":
		sum, err = importCalendar(ctx, db, file, opt)
	case "institutions":
		sum, err = importInstitutions(ctx, db, file, opt)
	case "follow-ups":
		sum, err = importFollowUps(ctx, db, file, opt)
	}
	bar.done()
	return finishImport(e, kind, sum, err, *rejectFile, *allowRejects)
}

// finishImport prints what an import did, writes its reject file and
// decides the exit status: non-zero when a row was rejected (unless
// allowRejects) or nothing loaded.
func finishImport(e *env, kind string, sum ingest.Summary, err error, rejectFile string, allowRejects bool) error {
	var nothing *ingest.NothingLoaded
	if errors.As(err, &nothing) && rejectFile != "" && len(sum.Rejected) > 0 {
		if werr := writeRejects(rejectFile, sum.Rejected); werr != nil {
			return werr
		}
		return fmt.Errorf("%w; the %d rejected row(s) are in %s", err, len(sum.Rejected), rejectFile)
	}
	if err != nil {
		return err
	}
	printSummary(e.stdout, sum)
	if len(sum.Rejected) > 0 {
		if err := writeRejects(rejectFile, sum.Rejected); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "riskmap: %d rejected row(s) written to %s\n", len(sum.Rejected), rejectFile)
		if !allowRejects {
			return fmt.Errorf("import %s: %d row(s) rejected (the others loaded; the rejected ones are in %s): fix them and import the file again, or pass --allow-rejects to exit 0", kind, len(sum.Rejected), rejectFile)
		}
	}
	return nil
}

// importFile opens a file, reads it with read and loads what it read with load.
func importFile[T any](file string, read func(io.Reader, string) (T, ingest.Problems, error), load func(T, ingest.Problems) (ingest.Summary, error)) (ingest.Summary, error) {
	f, err := os.Open(file)
	if err != nil {
		return ingest.Summary{}, err
	}
	defer f.Close()
	records, problems, err := read(f, file)
	if err != nil {
		return ingest.Summary{}, err
	}
	return load(records, problems)
}

func importBoundaries(ctx context.Context, db *postgres.DB, file string, opt ingest.BoundaryOptions, iopt postgres.ImportOptions) (ingest.Summary, error) {
	read := func(r io.Reader, name string) ([]ingest.BoundaryFeature, ingest.Problems, error) {
		return ingest.ReadBoundaries(r, name, opt)
	}
	return importFile(file, read, func(areas []ingest.BoundaryFeature, ps ingest.Problems) (ingest.Summary, error) {
		return db.ImportBoundaries(ctx, opt.Level, file, areas, ps, iopt)
	})
}

func importPlantations(ctx context.Context, db *postgres.DB, file string, opt postgres.ImportOptions) (ingest.Summary, error) {
	return importFile(file, ingest.ReadPlantations, func(fields []ingest.PlantationFeature, ps ingest.Problems) (ingest.Summary, error) {
		return db.ImportPlantations(ctx, file, fields, ps, opt)
	})
}

func importCalendar(ctx context.Context, db *postgres.DB, file string, opt postgres.ImportOptions) (ingest.Summary, error) {
	return importFile(file, ingest.ReadCalendar, func(entries []risk.CalendarEntry, ps ingest.Problems) (ingest.Summary, error) {
		return db.ImportCalendar(ctx, file, entries, ps, opt)
	})
}

func importInstitutions(ctx context.Context, db *postgres.DB, file string, opt postgres.ImportOptions) (ingest.Summary, error) {
	return importFile(file, ingest.ReadInstitutions, func(ins []ingest.Institution, ps ingest.Problems) (ingest.Summary, error) {
		return db.ImportInstitutions(ctx, file, ins, ps, opt)
	})
}

func importFollowUps(ctx context.Context, db *postgres.DB, file string, opt postgres.ImportOptions) (ingest.Summary, error) {
	return importFile(file, ingest.ReadFollowUps, func(fus []ingest.FollowUp, ps ingest.Problems) (ingest.Summary, error) {
		return db.ImportFollowUps(ctx, file, fus, ps, opt)
	})
}

func importSurvey(ctx context.Context, db *postgres.DB, file string, sopt ingest.SurveyOptions, maxDist float64, round, roundLabel string, opt postgres.ImportOptions) (ingest.Summary, error) {
	sv, err := ingest.OpenSurvey(file, sopt)
	if err != nil {
		return ingest.Summary{}, err
	}
	defer sv.Close()
	// Households are matched to earlier rounds by the rules of the model
	// the programme scores with: the latest run's, or the default before any.
	m, err := db.CurrentModel(ctx)
	if err != nil {
		return ingest.Summary{}, err
	}
	in := postgres.SurveyImport{HouseholdFile: sv.HouseholdFile, ChildFile: sv.ChildFile, MaxVillageDistance: maxDist,
		Households: sv.Households, Children: sv.Children, Round: round, RoundLabel: roundLabel, Identity: m.Identity}
	sum, err := db.ImportSurvey(ctx, in, opt)
	sum.Warnings = append(sv.Notes(), sum.Warnings...)
	// Rows rejected after streaming are found again by their offset.
	var ps ingest.Problems
	if errors.As(err, &ps) {
		sv.FillRaw(ps)
		return sum, ps
	}
	sv.FillRaw(sum.Rejected)
	return sum, err
}

func printSummary(w io.Writer, s ingest.Summary) {
	fmt.Fprintf(w, "imported %s from %s: %d read, %d inserted, %d updated, %d repaired, %d rejected\n",
		s.Kind, s.File, s.Read, s.Inserted, s.Updated, len(s.Repaired), len(s.Rejected))
	if s.Kind == "visits" && s.Skipped > 0 {
		fmt.Fprintf(w, "  skipped: %d visit(s) loaded by an earlier import\n", s.Skipped)
	}
	if s.Kind == "survey" {
		for _, r := range sortedKeys(s.Rounds) {
			fmt.Fprintf(w, "  round %s: %d household(s)\n", r, s.Rounds[r])
		}
		id := s.Identity
		fmt.Fprintf(w, "  identity: %d matched to an earlier round by programme id, %d by village, GPS and children; %d new; %d ambiguous (kept new, listed below)\n",
			id.ProgrammeID, id.PlaceAndChildren, id.New, id.Ambiguous)
		fmt.Fprintf(w, "  children: %d loaded (%d earlier answers replaced)\n", s.Children.Inserted, s.Children.Replaced)
		if s.Skipped > 0 {
			fmt.Fprintf(w, "  skipped: %d household(s) that did not consent (consent = no), with %d child row(s): not data, not stored\n", s.Skipped, s.Children.Skipped)
		}
	}
	for _, wn := range s.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", wn)
	}
	for _, r := range s.Repaired {
		fmt.Fprintf(w, "  repaired feature %d (%s): %s\n", r.Index, r.Code, r.Reason)
	}
	for i, n := range s.Notes {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more notes\n", len(s.Notes)-20)
			break
		}
		fmt.Fprintf(w, "  note: %s\n", n.Error())
	}
	for i, p := range s.Rejected {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more rejected (all are in the reject file)\n", len(s.Rejected)-20)
			break
		}
		fmt.Fprintf(w, "  rejected: %s\n", p.Error())
	}
}

// writeRejects writes the rejected rows to path as CSV: where each came from,
// why, and the row itself.
func writeRejects(path string, ps ingest.Problems) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"file", "row", "column", "code", "reason", "raw"})
	for _, p := range ps {
		_ = w.Write([]string{p.File, strconv.Itoa(p.Row), p.Column, p.Code, p.Reason, p.Raw})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// progressBar prints rows and rows/s on a terminal, and nothing elsewhere.
type progressBar struct {
	mu      sync.Mutex
	w       io.Writer
	on      bool
	start   time.Time
	last    time.Time
	printed bool
}

func newProgressBar(e *env) *progressBar {
	return &progressBar{w: e.stderr, on: isTerminal(e.stderr), start: time.Now()}
}

func (b *progressBar) update(stage string, rows int64) {
	if !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if now.Sub(b.last) < 200*time.Millisecond {
		return
	}
	b.last = now
	rate := float64(rows) / now.Sub(b.start).Seconds()
	fmt.Fprintf(b.w, "\r\033[K%s: %d rows, %.0f rows/s", stage, rows, rate)
	b.printed = true
}

func (b *progressBar) done() {
	if b.on && b.printed {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func importVisits(ctx context.Context, db *postgres.DB, file string, opt postgres.ImportOptions) (ingest.Summary, error) {
	m, err := risk.DefaultModel()
	if err != nil {
		return ingest.Summary{}, err
	}
	vr, err := ingest.OpenVisits(file)
	if err != nil {
		return ingest.Summary{}, err
	}
	defer vr.Close()
	return db.ImportVisits(ctx, vr, m.Cases, opt, time.Now())
}
