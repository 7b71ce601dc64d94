package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// publishRounds rebuilds round_area and round_summary for every round with
// households, under the run's model: each round's true counts per area go
// through risk.Publish (the rule and audit of area_public), prevalence comes
// from the published counts, and the change since the previous round from
// both rounds' published counts and design effects
// (risk.PrevalenceChange). The round the map shows gets the counts
// area_public has: the same counts through the same publisher.
// publication is one round's true counts and what Publish made of them.
type publication struct {
	areas []risk.AreaCounts
	pub   map[string]risk.PublishedArea
	basis *basis // the round's bases the counts are
}

func publishRounds(ctx context.Context, tx pgx.Tx, m *risk.Model, shownRound string, shown *publication) error {
	if _, err := tx.Exec(ctx, `DELETE FROM round_area; DELETE FROM round_summary`); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT r.id FROM survey_round r WHERE EXISTS (SELECT 1 FROM household h WHERE h.round_id = r.id) ORDER BY r.starts_on, r.id`)
	if err != nil {
		return err
	}
	rounds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	type roundPub struct {
		pub  map[string]risk.PublishedArea
		deff float64
	}
	var prev *roundPub
	prevID := ""
	for _, round := range rounds {
		areas, pub, b := shown.areas, shown.pub, shown.basis
		if round != shownRound || pub == nil {
			if b, err = readBasis(ctx, tx, m, round); err != nil {
				return err
			}
			areas = b.areas
			if pub, _, err = risk.Publish(areas, m.Publication); err != nil {
				return err
			}
		}
		// The round's size: the sums of its published kabupaten (root)
		// counts, derived from published figures only, so that nothing
		// above the kabupaten joins their audits (a rounded province total
		// would be a published sum across them). Its design effect: pooled
		// over the bases' clusters.
		deff := b.cluster.DesignEffect()
		households, children := risk.RootSums(areas, pub, "households"), risk.RootSums(areas, pub, "children")
		if _, err := tx.Exec(ctx, `INSERT INTO round_summary (round_id, households, children, design_effect, score_run_id) VALUES ($1, $2, $3, $4, 0)`,
			round, households, children, deff); err != nil {
			return err
		}
		var (
			levels, codes, parents, statuses       []string
			hh, ch, hz, cl                         []*int32
			prevalence, plo, phi, change, clo, chi []*float64
			previous                               []*string
			significant                            []*bool
		)
		i32 := func(v *int) *int32 {
			if v == nil {
				return nil
			}
			x := int32(*v)
			return &x
		}
		for _, a := range areas {
			level, code, _ := strings.Cut(a.Area, ":")
			_, parent, _ := strings.Cut(a.Parent, ":")
			p := pub[a.Area]
			status := "published"
			switch {
			case b.surveyedOnly[a.Area]:
				status = "insufficient_data"
			case a.Counts["households"] == 0:
				status = "no_data"
			case !p.Eligible:
				status = "insufficient_data"
			}
			levels, codes, parents, statuses = append(levels, level), append(codes, code), append(parents, parent), append(statuses, status)
			hh, ch = append(hh, i32(p.Values["households"])), append(ch, i32(p.Values["children"]))
			hz, cl = append(hz, i32(p.Values["hazardous"])), append(cl, i32(p.Values["child_labour"]))
			x, n, ok := risk.PublishedLabour(p)
			var pr, lo, hi *float64
			if ok {
				v, l, h := risk.PrevalenceInterval(x, n, m.Estimation.Level)
				pr, lo, hi = &v, &l, &h
			}
			prevalence, plo, phi = append(prevalence, pr), append(plo, lo), append(phi, hi)
			var d, dlo, dhi *float64
			var sig *bool
			var pv *string
			if prev != nil {
				id := prevID
				pv = &id
				if x0, n0, ok0 := risk.PublishedLabour(prev.pub[a.Area]); ok0 && ok {
					if c, ok := risk.PrevalenceChange(x0, n0, prev.deff, x, n, deff, m.Estimation.Level); ok {
						d, dlo, dhi, sig = &c.Diff, &c.Lo, &c.Hi, &c.Significant
					}
				}
			}
			change, clo, chi, significant, previous = append(change, d), append(clo, dlo), append(chi, dhi), append(significant, sig), append(previous, pv)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO round_area (round_id, level, code, parent_code, status, households, children, hazardous, child_labour,
				prevalence, prevalence_lo, prevalence_hi, previous_round, change, change_lo, change_hi, change_significant)
			SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::int[], $9::int[],
				$10::float8[], $11::float8[], $12::float8[], $13::text[], $14::float8[], $15::float8[], $16::float8[], $17::boolean[]) AS u`,
			round, levels, codes, nullIfEmpty(parents), statuses, hh, ch, hz, cl, prevalence, plo, phi, previous, change, clo, chi, significant); err != nil {
			return err
		}
		prev, prevID = &roundPub{pub: pub, deff: deff}, round
	}
	return nil
}

func nullIfEmpty(ss []string) []*string {
	out := make([]*string, len(ss))
	for i := range ss {
		if ss[i] != "" {
			out[i] = &ss[i]
		}
	}
	return out
}
