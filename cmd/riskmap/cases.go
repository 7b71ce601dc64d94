package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

const casesSynopsis = `cases due|list|push [flags]

  due  [--area CODE] [--before YYYY-MM-DD] [--csv]
       open cases whose next visit is due before the date (default: today
       plus 14 days), the most overdue first: the follow-ups staff owe
  list [--area CODE] [--status S[,S]] [--csv]
       every case, or those of the statuses
  push odk  --server URL --project N --user EMAIL --password-file FILE --area CODE
            [--dataset cases] [--key-file FILE]
       the area's work list (every case not closed or lost) as the Entities of
       a dataset on ODK Central, which the visit form reads offline
  push kobo --server URL --asset UID --token-file FILE --area CODE
            [--file cases.csv] [--key-file FILE]
       the same list as the visit form's CSV media file on KoBoToolbox
       (select_one_from_file), then a redeploy so phones fetch it
       A push writes only what changed; --key-file names a staff key whose
       areas must cover --area, and the audit log records the push under it.

A case is a child found in hazardous work or child labour; the scoring run
opens it, visits (riskmap import visits, or POST /cases/{id}/visits) move it
on, and it closes after two consecutive follow-ups that find the child out
of child labour (docs/methodology.md, "Cases"). Staff find the household by
its programme card number and the child by ordinal, age and sex: no names.`

func casesCmd(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "push" {
		return casesPushCmd(ctx, e, args[1:])
	}
	if len(args) == 0 || (args[0] != "due" && args[0] != "list") {
		fmt.Fprintf(e.stderr, "Usage: riskmap %s\n", casesSynopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return fmt.Errorf("cases: want due, list or push")
	}
	fs := e.flags("cases "+args[0], casesSynopsis)
	area := fs.String("area", "", "kabupaten, kecamatan or desa code (default: everywhere)")
	asCSV := fs.Bool("csv", false, "write CSV (for a spreadsheet) instead of a table")
	var before, status *string
	if args[0] == "due" {
		before = fs.String("before", "", "due before this date, YYYY-MM-DD (default: today plus 14 days)")
	} else {
		status = fs.String("status", "", "comma-separated statuses: "+strings.Join(risk.CaseStatuses, ", "))
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	today := time.Now()
	q := postgres.CaseQuery{Limit: 1 << 30, Today: today}
	if *area != "" {
		q.Areas = []string{*area}
	}
	if before != nil {
		q.Open = true
		q.DueBefore = today.AddDate(0, 0, 14)
		if *before != "" {
			t, err := time.Parse(time.DateOnly, *before)
			if err != nil {
				return fmt.Errorf("cases due: --before %q is not a date (YYYY-MM-DD)", *before)
			}
			q.DueBefore = t
		}
	}
	if status != nil && *status != "" {
		q.Status = strings.Split(*status, ",")
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	cs, err := db.Cases(ctx, q)
	if err != nil {
		return err
	}
	date := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	header := []string{"case", "status", "next_due", "overdue", "village", "programme_id", "child", "classification", "visits", "last_visit"}
	row := func(c postgres.Case) []string {
		card := ""
		if c.ProgrammeID != nil {
			card = *c.ProgrammeID
		}
		return []string{strconv.FormatInt(c.ID, 10), c.Status, date(c.NextDue), map[bool]string{true: "OVERDUE", false: ""}[c.Overdue],
			c.Village + " (" + c.VillageCode + ")", card, fmt.Sprintf("#%d, %s, %d", c.Ordinal, c.Sex, c.Age),
			c.Classification, strconv.Itoa(c.Visits), date(c.LastVisit)}
	}
	if *asCSV {
		w := csv.NewWriter(e.stdout)
		_ = w.Write(header)
		for _, c := range cs {
			_ = w.Write(row(c))
		}
		w.Flush()
		return w.Error()
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	overdue := 0
	for _, c := range cs {
		fmt.Fprintln(tw, strings.Join(row(c), "\t"))
		if c.Overdue {
			overdue++
		}
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "%d case(s), %d overdue\n", len(cs), overdue)
	return nil
}
