package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
)

func planSurveyCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("plan-survey", "plan-survey --households N [--top K] [--area CODE] [--month M]\n\nProposes how many households to survey in which villages in the next round so that\nthe top-K list of villages to visit becomes as certain as it can for that effort\n(docs/methodology.md, \"Where to survey next\"), and says what the plan buys against\nthe same households spread evenly. It plans from the exact ranking (the database's\nsmall-area estimates), as its operator may.")
	households := fs.Int("households", 0, "households to survey (required)")
	top := fs.Int("top", 10, "K: the length of the list to make certain")
	area := fs.String("area", "", "kabupaten, kecamatan or desa code (default: everywhere)")
	month := fs.Int("month", 8, "the month whose seasonal ranking to plan for (1-12)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *households == 0 {
		fs.Usage()
		return errors.New("plan-survey: --households is required")
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	plan, villages, err := db.SurveyPlan(ctx, *month, *area, *top, *households, true)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "village\tname\tkecamatan\trank\t(90%% interval)\tp_top%d\thouseholds\tadd\tuncertainty now\texpected after\n", *top)
	for _, it := range plan.Items {
		v := villages[it.Code]
		ranks := ""
		if v.RankLow != nil && v.RankHigh != nil {
			ranks = fmt.Sprintf("%d-%d", *v.RankLow, *v.RankHigh)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%.2f\t%d\t+%d\t%.3f\t%.3f\n", it.Code, v.Name, v.Kecamatan, v.Rank, ranks, it.PTop, it.Households, it.Add, it.Uncertainty, it.Expected)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\n%d households in %d villages of %d ranked.\n", plan.Spent, len(plan.Items), len(villages))
	fmt.Fprintf(e.stdout, "Unsettled top-%d memberships (sum of p(1-p) over the ranked villages): now %.2f; expected after this plan %.2f (%.0f%% less); after the same households spread evenly %.2f (%.0f%% less).\n",
		*top, plan.Now, plan.After, 100*(1-plan.After/plan.Now), plan.Uniform, 100*(1-plan.Uniform/plan.Now))
	return nil
}
