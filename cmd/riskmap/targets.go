package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
)

func targetsCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("targets", "targets --month M [--area CODE] [--households] [--limit N] [--top K]\n\nRanks the villages (or, with --households, the households) of an area by their\nseasonal risk in month M, with the three components that weigh most. For villages\nit says how sure each rank is: a 90% interval of the rank and the probability of\nbeing among the top K (\"pasti\" 0.9 or more, \"mungkin\" 0.1-0.9). Households\nunder active follow-up are left out. Household lists are personal data: for\nauthorised programme staff only.")
	month := fs.Int("month", 0, "month 1-12 (required)")
	area := fs.String("area", "", "kabupaten, kecamatan or desa code (default: everywhere)")
	households := fs.Bool("households", false, "rank households instead of villages")
	limit := fs.Int("limit", 20, "how many to list")
	top := fs.Int("top", 10, "villages: the length of the list whose membership p_top gives")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *month == 0 {
		fs.Usage()
		return errors.New("targets: --month is required")
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if *households {
		var areas []string
		if *area != "" {
			areas = []string{*area}
		}
		ts, err := db.HouseholdTargets(ctx, *month, areas, *limit)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "rank\thousehold\tvillage\tscore\tseasonal\ttier\treasons")
		for _, t := range ts {
			reasons := strings.Join(t.Reasons, "; ")
			if t.TopReason != "" {
				reasons = t.TopReason + "; " + reasons
			}
			fmt.Fprintf(w, "%d\t%s\t%s %s\t%.0f\t%.1f\t%s\t%s\n", t.Rank, t.ID, t.Village, t.Name, t.Score, t.Seasonal, t.Tier, reasons)
		}
		return w.Flush()
	}
	// The command reads the database directly, as its operator may: the
	// ranking from exact counts (the API gives it to admins and to staff in
	// their areas).
	ts, notRanked, err := db.VillageTargets(ctx, *month, *area, *limit, *top, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "rank\t(90%% interval)\tp_top%d\ttop-%d set\tvillage\tname\tscore\t(interval)\tseasonal\ttier\thouseholds\treasons\n", *top, *top)
	for _, t := range ts {
		interval, households := "", "-"
		if t.ScoreLow != nil && t.ScoreHigh != nil {
			interval = fmt.Sprintf("%.0f-%.0f", *t.ScoreLow, *t.ScoreHigh)
		}
		if t.Households != nil {
			households = fmt.Sprintf("about %d", *t.Households)
		}
		ranks, ptop, set := "", "", ""
		if t.RankLow != nil && t.RankHigh != nil && t.PTop != nil {
			ranks, ptop = fmt.Sprintf("%d-%d", *t.RankLow, *t.RankHigh), fmt.Sprintf("%.2f %s", *t.PTop, t.TopCertainty)
		}
		if t.InTopSet != nil && *t.InTopSet {
			set = "in"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t%.1f\t%s\t%s\t%s\n", t.Rank, ranks, ptop, set, t.ID, t.Name, t.Score, interval, t.Seasonal, t.Tier, households, strings.Join(t.Reasons, "; "))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(notRanked) > 0 {
		fmt.Fprintf(e.stdout, "not ranked: %d not surveyed, %d surveyed without children aged 5-17\n",
			notRanked["no_data"], notRanked["no_children"])
	}
	return nil
}
