package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

func scoreCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("score", "score [--model FILE] [--month M] [--round ID]\n\nClassifies every child, scores every household and village with the risk model,\nrolls villages up to kecamatan and kabupaten and finds hotspots, in one\ntransaction, then renders the map's low-zoom tiles. Under the previous run's model\nonly the children and households of the kabupaten whose data changed since are\nclassified and scored again; the rest are kept. --month computes hotspots on that month's seasonal scores.\nEvery round's households are scored and every round's figures published;\nthe map, the aggregates and the targets show --round (default: the latest).\nThe run also opens a case for every child newly found in hazardous work or\nchild labour and recomputes every case's status.")
	modelFile := fs.String("model", "", "risk model JSON (default: the embedded "+risk.DefaultModelFile+")")
	month := fs.Int("month", 0, "month 1-12 for seasonal hotspots (default: the annual score)")
	round := fs.String("round", "", "the survey round the map shows (default: the latest round with households)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := loadModel(*modelFile)
	if err != nil {
		return err
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	run, err := db.ScoreRound(ctx, m, *month, *round)
	if err != nil {
		return err
	}
	printScore(e, run)
	return renderTiles(ctx, e, db)
}

func renderTilesCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("render-tiles", "render-tiles\n\nRenders the area layers' tiles of zooms up to 10 (kabupaten, kecamatan, villages)\nfrom what is published now, for the service to read back by key. A scoring run does\nthis itself; run it after importing boundaries without scoring, or after upgrading\nriskmap (a tile rendered by another version is never served; until it is rendered\nagain the service builds it on request).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return renderTiles(ctx, e, db)
}

// renderTiles renders the published map's low-zoom tiles (catalog.
// RenderTiles) after a scoring run has committed, and says what it did.
// The run's figures are served already; until its tiles are rendered the
// service builds them on request.
func renderTiles(ctx context.Context, e *env, db *postgres.DB) error {
	st, err := db.RenderTiles(ctx, 2)
	if err != nil {
		return fmt.Errorf("render tiles: %w", err)
	}
	fmt.Fprintf(e.stdout, "  tiles:      %d of zooms up to %d rendered ahead in %.1f s, months %v (0: annual; %.1f MB compressed, largest %d KB); tile properties of %d areas for the deeper zooms in %.1f s\n",
		st.Tiles, postgres.RenderedMaxZoom, st.Seconds, st.Months, float64(st.Bytes)/1e6, st.Largest/1024, st.Props.Areas, st.Props.Seconds)
	return nil
}

func printScore(e *env, run postgres.ScoreRun) {
	fmt.Fprintf(e.stdout, "scored with model %s (run %d), round %s: %d households, %d children, %d villages with surveys\n",
		run.ModelVersion, run.ID, run.Round, run.Households, run.Children, run.Villages)
	if run.Full {
		fmt.Fprintf(e.stdout, "  scored:     every household (the first run, a new model or scoring code, or villages, fields or calendars changed)\n")
	} else {
		fmt.Fprintf(e.stdout, "  scored:     the households of %d kabupaten whose data changed %v; the rest kept from the previous run\n", len(run.Rescored), run.Rescored)
	}
	fmt.Fprintf(e.stdout, "  children:   %s\n", counts(run.Classes, risk.Classifications))
	fmt.Fprintf(e.stdout, "  households: %s\n", counts(run.Tiers, []string{"high", "medium", "low"}))
	fmt.Fprintf(e.stdout, "  hotspots:   %s\n", counts(run.Hotspots, []string{"hot_99", "hot_95", "hot_90", "cold_99", "cold_95", "cold_90", "not_significant"}))
	p := run.Publication
	fmt.Fprintf(e.stdout, "  published:  %d areas, %d under the minimum sample, %d withheld; %d further counts withheld; audit passed in %d rounds\n",
		p.Published, p.Insufficient, p.Withheld, p.CountsWithheld, p.AuditRounds)
	fmt.Fprintf(e.stdout, "  cases:      %d opened by this run, %d open\n", run.CasesOpened, run.CasesOpen)
	if run.NewRelease {
		fmt.Fprintf(e.stdout, "  release:    %d (new): %d bases taken anew\n", run.Release, len(run.Refreshed))
	} else {
		fmt.Fprintf(e.stdout, "  release:    %d again: nothing published changed\n", run.Release)
	}
	if h := run.Held; h.Bases+h.Stale+h.Cases > 0 {
		fmt.Fprintf(e.stdout, "  held:       %d village bases wait for more changes (%d households changed in them), %d on an earlier model, %d kecamatan pipelines wait\n",
			h.Bases, h.Households, h.Stale, h.Cases)
	}
	if run.Erasures > 0 {
		fmt.Fprintf(e.stdout, "  erasures:   %d household(s) erased since the previous run are gone from the data; their villages' published figures drop them when enough households there have changed\n", run.Erasures)
	}
	var total float64
	for _, s := range run.Stages {
		fmt.Fprintf(e.stdout, "  %-32s %6.2f s\n", s.Name, s.Seconds)
		total += s.Seconds
	}
	fmt.Fprintf(e.stdout, "  %-32s %6.2f s\n", "total", total)
}

func loadModel(file string) (*risk.Model, error) {
	if file == "" {
		return risk.DefaultModel()
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return risk.ParseModel(b, file)
}

func counts(m map[string]int, order []string) string {
	var parts []string
	seen := map[string]bool{}
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		seen[k] = true
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func disclosureCheckCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("disclosure-check", "disclosure-check [--model FILE]\n\nAudits the published tables the public and planners are served against the true counts:\nfor every count, the narrowest interval an attacker gets by combining every published\nrow and column (exact linear-programming bounds), planners' household points, and\nevery derived figure. Prints each problem and exits non-zero if there is any.\nThe rule is the one of the latest scoring run's model, or --model.")
	modelFile := fs.String("model", "", "take the rule from this model file instead")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	var m *risk.Model
	if *modelFile != "" {
		m, err = loadModel(*modelFile)
	} else {
		m, err = db.LatestModel(ctx)
	}
	if err != nil {
		return err
	}
	problems, err := db.DisclosureCheck(ctx, m)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(e.stdout, p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("disclosure check: %d problems", len(problems))
	}
	fmt.Fprintf(e.stdout, "disclosure check passed: no count of the public or planner tables can be narrowed below the rule (width %d, small counts 1-%d), and every derived figure comes from published counts\n",
		m.Publication.MinIntervalWidth, m.Publication.SmallCountMax)
	return nil
}
