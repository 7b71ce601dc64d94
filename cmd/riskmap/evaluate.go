package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"text/tabwriter"

	"github.com/kesempatan/riskmap/internal/risk"
)

func evaluateCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("evaluate", "evaluate [--replications 50] [--households 20000] [--seed 1]\n\nThe simulation study of targeting accuracy (docs/methodology.md): a synthetic truth over the\ndatabase's villages, surveys of very unequal sizes, and how well each ranking rule recovers the\ntruly worst surveyed villages (precision at 10, 25 and 50; Spearman's rank correlation);\nthen how sure the rankings say they are against that truth: the coverage of the score\nand rank intervals, by sample size, the calibration of p_top and of the top-K set, and the\nrank draws' tail scales that fit the top fifth of the rankings (the model's\nestimation.rank_tails); and the change between two\nrounds estimated as from independent samples and from the children surveyed in both.")
	reps := fs.Int("replications", 50, "simulated surveys")
	households := fs.Int("households", 20000, "households surveyed in each")
	seed := fs.Uint64("seed", 1, "random seed")
	top := fs.Int("top", 10, "K of the top-K list whose p_top is checked")
	fitTails := fs.Bool("fit-tails", false, "instead: fit the rank draws' tail scales (estimation.rank_tails) to p_top's calibration over a grid, and print the grid best first")
	fitCurve := fs.Bool("fit-curve", false, "instead: fit p_top's calibration curve (estimation.p_top_curve) to the truth, with no curve, and print it (fit on one seed, check on another)")
	modelFile := fs.String("model", "", "risk model JSON (default: the embedded one)")
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
	shapes, err := db.VillageShapes(ctx)
	if err != nil {
		return err
	}
	if len(shapes) < 10 {
		return risk.Errorf(risk.EINVALID, "the database holds %d villages: import boundaries first (riskmap import boundaries)", len(shapes))
	}
	villages := make([]risk.EvalVillage, len(shapes))
	for i, s := range shapes {
		villages[i] = risk.EvalVillage{Code: s.Code, Kecamatan: s.KecamatanCode, Kabupaten: s.Code[:5]}
	}
	if *fitCurve {
		fits := risk.FitPTopCurve(villages, m, risk.EvalOptions{Replications: *reps, Households: *households, Seed: *seed}, *top)
		fmt.Fprintf(e.stdout, "%d villages, %d simulated surveys of %d households each (synthetic): p_top as drawn (no curve), by decile (mean p_top / share truly top %d / villages), and the curve through them (estimation.p_top_curve)\n", len(villages), *reps, *households, *top)
		for _, rule := range []string{"published", "estimated"} {
			f := fits[rule]
			fmt.Fprintf(e.stdout, "%s:", rule)
			for _, d := range f.Raw {
				fmt.Fprintf(e.stdout, " %.2f/%.2f/%.0f", d.P, d.Hit, d.N)
			}
			b, err := json.Marshal(f.Curve)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "\n  curve: %s\n", b)
		}
		return nil
	}
	if *fitTails {
		fits := risk.FitRankTails(villages, m, risk.EvalOptions{Replications: *reps, Households: *households, Seed: *seed}, *top,
			[]float64{1, 1.1, 1.2, 1.3}, []float64{0.7, 0.75, 0.8, 0.85, 0.9, 1})
		fmt.Fprintf(e.stdout, "%d villages, %d simulated surveys of %d households each (synthetic): p_top's calibration by the rank draws' tail scales, best first\n", len(villages), *reps, *households)
		w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ranking\tlower\tupper\tcalibration error (mean squared gap)\tworst decile's gap")
		for _, rule := range []string{"published", "estimated"} {
			for _, f := range fits[rule][:min(6, len(fits[rule]))] {
				fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%.5f\t%.3f\n", rule, f.Tails.Lower, f.Tails.Upper, f.Reliability, f.Worst)
			}
		}
		return w.Flush()
	}
	res := risk.Evaluate(villages, m, risk.EvalOptions{Replications: *reps, Households: *households, Seed: *seed})
	fmt.Fprintf(e.stdout, "%d villages, %d simulated surveys of %d households each (synthetic)\n", len(villages), *reps, *households)
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "rule\tprecision@10\t@25\t@50\tSpearman\tranked\tunder 10 households in top 10")
	for _, r := range res {
		fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%.2f\t%.3f\t%.0f\t%.1f\n", r.Rule, r.PrecisionAt[10], r.PrecisionAt[25], r.PrecisionAt[50], r.Spearman, r.Ranked, r.SmallInTop10)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// How sure the rankings say they are, against the simulated truth.
	cal := risk.EvaluateRanks(villages, m, risk.EvalOptions{Replications: *reps, Households: *households, Seed: *seed}, *top)
	fmt.Fprintf(e.stdout, "\nrank uncertainty, nominal %.0f%% intervals, top %d:\n", 100*m.Estimation.Level, *top)
	fmt.Fprintln(w, "rule\tscore interval covers\t<10 hh\t10-29\t30-99\t100+\trank interval covers\tp_top>=0.9 per survey\tof them truly top\toutside top, interval reaching the K-th\ttop-K set holds the true top K\tits size")
	for _, c := range cal {
		fmt.Fprintf(w, "%s\t%.3f", c.Rule, c.ScoreCoverage)
		for _, b := range risk.SizeBands {
			if v, ok := c.BySize[b]; ok {
				fmt.Fprintf(w, "\t%.3f", v)
			} else {
				fmt.Fprint(w, "\t-")
			}
		}
		fmt.Fprintf(w, "\t%.3f\t%.1f\t%.2f\t%.1f\t%.3f\t%.1f\n", c.RankCoverage, c.SurelyTop, c.SurelyTopRight, c.OverlapK, c.TopSetCoverage, c.TopSetSize)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nthe top fifth of each ranking against its score intervals (nominal %.3f each side), and the rank draws' tail scales (model estimation.rank_tails):\n", (1-m.Estimation.Level)/2)
	fmt.Fprintln(w, "rule\ttruth below the low end\tabove the high end\tscales used: lower\tupper\tscales that fit: lower\tupper")
	for i, c := range cal {
		t := m.RankTailsFor([]risk.Basis{risk.Published, risk.Exact}[i])
		fmt.Fprintf(w, "%s\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t%.2f\n", c.Rule, c.Below, c.Above, t.Lower, t.Upper, c.Fitted.Lower, c.Fitted.Upper)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\np_top calibration (villages pooled by p_top: mean p_top / share truly top K / villages):")
	fmt.Fprintln(w, "rule\t0-.1\t.1-.2\t.2-.3\t.3-.4\t.4-.5\t.5-.6\t.6-.7\t.7-.8\t.8-.9\t.9-1\tworst gap")
	for _, c := range cal {
		fmt.Fprint(w, c.Rule)
		var worst float64
		for _, d := range c.Deciles {
			fmt.Fprintf(w, "\t%.2f/%.2f/%.0f", d.P, d.Hit, d.N)
			if d.N > 0 {
				worst = max(worst, math.Abs(d.P-d.Hit))
			}
		}
		fmt.Fprintf(w, "\t%.3f\n", worst)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// The change between two rounds, from independent samples and from the
	// panel of children surveyed in both (synthetic, 200 villages a round).
	fmt.Fprintf(e.stdout, "\nchange between rounds, nominal %.0f%% intervals (synthetic: 200 villages, 80%% of the children in both rounds, half the villages falling by 0.10):\n", 100*m.Estimation.Level)
	fmt.Fprintln(w, "children per village\tpersistence\testimator\tcovers\tno change called change\tfall seen\tinterval width\tdesign effect\tpanel overlap / correlation")
	for _, children := range []int{20, 40, 80} {
		for _, persist := range []float64{0, 0.3, 0.6} {
			res := risk.EvaluatePanel(risk.PanelOptions{Replications: max(*reps/2, 5), Villages: 200, Children: children, Overlap: 0.8,
				Persistence: persist, Fall: 0.1, Level: m.Estimation.Level, Seed: *seed})
			for _, r := range res {
				fmt.Fprintf(w, "%d\t%.1f\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f / %.2f\n", children, persist, r.Method, r.Coverage, r.FalseChange, r.Power, r.Width, r.DesignEffect, r.Overlap, r.Corr)
			}
		}
	}
	return w.Flush()
}
