// Package demoload loads a generated demo survey into a database through
// the real importers, in two rounds with the visits staff would have made:
// the path `make run` and the tests share.
package demoload

import (
	"context"
	"path/filepath"
	"time"

	"github.com/kesempatan/riskmap/internal/demo"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// The demo's survey rounds.
const (
	BaselineRound = "2026-baseline"
	FollowUpRound = "2026-followup"
)

// Report is told what each step did.
type Report struct {
	Import func(ingest.Summary)
	Score  func(postgres.ScoreRun)
}

// TwoRounds imports the baseline of dir (demo.Generate with FollowUp) and
// scores it, which opens the cases; imports the follow-up round and scores
// again; then writes the visits to the cases up to today (demo.WriteVisits)
// and imports them. Boundaries, fields and the calendar must be loaded.
func TwoRounds(ctx context.Context, db *postgres.DB, m *risk.Model, dir string, seed uint64, today time.Time, opt postgres.ImportOptions, rep Report) error {
	if rep.Import == nil {
		rep.Import = func(ingest.Summary) {}
	}
	if rep.Score == nil {
		rep.Score = func(postgres.ScoreRun) {}
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	for _, r := range []struct{ households, children, round, label string }{
		{demo.HouseholdsFile, demo.ChildrenFile, BaselineRound, "Baseline 2026 (synthetic)"},
		{demo.FollowUpHouseholdsFile, demo.FollowUpChildrenFile, FollowUpRound, "Follow-up 2026, six months on (synthetic)"},
	} {
		sum, err := importRound(ctx, db, m, path(r.households), path(r.children), r.round, r.label, opt)
		if err != nil {
			return err
		}
		rep.Import(sum)
		run, err := db.ScoreRound(ctx, m, 0, "")
		if err != nil {
			return err
		}
		rep.Score(run)
	}
	cases, err := db.Cases(ctx, postgres.CaseQuery{Limit: 1 << 30, Today: today})
	if err != nil {
		return err
	}
	vc := make([]demo.VisitCase, 0, len(cases))
	for _, c := range cases {
		v := demo.VisitCase{ID: c.ID, OpenedOn: c.OpenedOn, Hazardous: c.Classification == "hazardous", InLabourLater: c.LastSurveyInLabour}
		if c.ProgrammeID != nil {
			v.ProgrammeID = *c.ProgrammeID
		}
		vc = append(vc, v)
	}
	if _, err := demo.WriteVisits(path(demo.VisitsFile), vc, seed, today); err != nil {
		return err
	}
	vr, err := ingest.OpenVisits(path(demo.VisitsFile))
	if err != nil {
		return err
	}
	defer vr.Close()
	sum, err := db.ImportVisits(ctx, vr, m.Cases, opt, today)
	if err != nil {
		return err
	}
	rep.Import(sum)
	return nil
}

func importRound(ctx context.Context, db *postgres.DB, m *risk.Model, households, children, round, label string, opt postgres.ImportOptions) (ingest.Summary, error) {
	sv, err := ingest.OpenSurvey(households, ingest.SurveyOptions{Children: children})
	if err != nil {
		return ingest.Summary{}, err
	}
	defer sv.Close()
	sum, err := db.ImportSurvey(ctx, postgres.SurveyImport{HouseholdFile: sv.HouseholdFile, ChildFile: sv.ChildFile, MaxVillageDistance: 1000,
		Households: sv.Households, Children: sv.Children, Round: round, RoundLabel: label, Identity: m.Identity}, opt)
	sum.Warnings = append(sv.Notes(), sum.Warnings...)
	return sum, err
}
