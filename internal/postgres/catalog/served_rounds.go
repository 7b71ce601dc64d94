package catalog

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Round is a survey round with its published size.
type Round struct {
	ID           string    `json:"id"`
	Label        string    `json:"label"`
	StartsOn     time.Time `json:"starts_on"`
	EndsOn       time.Time `json:"ends_on"`
	Households   *int      `json:"households"` // rounded to the publication's base; nil before a scoring run
	Children     *int      `json:"children"`   // aged 5-17, rounded
	DesignEffect *float64  `json:"design_effect"`
	// The panel with the round before: the share of this round's children
	// surveyed in both and the correlation of a child's status between
	// them (nil: under risk.MinPanelPairs shared, changes as from
	// independent rounds).
	PanelOverlap     *float64 `json:"panel_overlap"`
	PanelCorrelation *float64 `json:"panel_correlation"`
	Shown            bool     `json:"shown_on_map"` // the round the map, aggregates and targets show
}

// Rounds lists the survey rounds, oldest first, with counts rounded to base.
func (st *Store) Rounds(ctx context.Context, base int) ([]Round, error) {
	rows, err := st.db.Reader().Query(ctx, `SELECT r.id, r.label, r.starts_on, r.ends_on, s.households, s.children, s.design_effect, s.panel_overlap, s.panel_correlation, r.id = scored_round()
		FROM survey_round r LEFT JOIN round_summary s ON s.round_id = r.id ORDER BY r.starts_on, r.id`)
	if err != nil {
		return nil, core.Wrap(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Round, error) {
		var x Round
		var shown *bool
		err := r.Scan(&x.ID, &x.Label, &x.StartsOn, &x.EndsOn, &x.Households, &x.Children, &x.DesignEffect, &x.PanelOverlap, &x.PanelCorrelation, &shown)
		for _, n := range []*int{x.Households, x.Children} {
			if n != nil {
				*n = risk.RoundCount(*n, base)
			}
		}
		x.Shown = shown != nil && *shown
		return x, err
	})
}

// CurrentModel returns the model of the latest scoring run (its case rules
// and publication rule), or the default model when nothing was scored yet
// (the model the first run will use). A stored model that no longer parses
// is an error, as in LatestModel, never silently replaced by the default:
// cases would then move by rules nobody chose.
func (st *Store) CurrentModel(ctx context.Context) (*risk.Model, error) {
	m, err := core.LatestModel(ctx, st.db.Reader())
	if risk.ErrorCode(err) == risk.ENOTFOUND {
		return risk.DefaultModel()
	}
	return m, err
}
