package scoring

import (
	"context"
	"errors"

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
		var panel risk.Panel
		var overlap, correlation *float64
		if prev != nil {
			if panel, err = roundPanel(ctx, tx, m, round, prevID, b.cluster.N); err != nil {
				return err
			}
			if panel.Overlap > 0 {
				overlap, correlation = &panel.Overlap, &panel.Correlation
			}
		}
		households, children := risk.RootSums(areas, pub, "households"), risk.RootSums(areas, pub, "children")
		if _, err := tx.Exec(ctx, `INSERT INTO round_summary (round_id, households, children, design_effect, panel_overlap, panel_correlation, score_run_id)
			VALUES ($1, $2, $3, $4, $5, $6, 0)`,
			round, households, children, deff, overlap, correlation); err != nil {
			return err
		}
		var (
			levels, codes, parents, statuses       []string
			hh, ch, hz, cl                         []*int32
			prevalence, plo, phi, change, clo, chi []*float64
			changeDeff                             []*float64
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
			level, code, _ := risk.SplitAreaID(a.Area)
			_, parent, _ := risk.SplitAreaID(a.Parent)
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
			var d, dlo, dhi, de *float64
			var sig *bool
			var pv *string
			if prev != nil {
				id := prevID
				pv = &id
				if x0, n0, ok0 := risk.PublishedLabour(prev.pub[a.Area]); ok0 && ok {
					if c, ok := risk.PanelChange(x0, n0, prev.deff, x, n, deff, panel, float64(m.Publication.RoundingBase), m.Estimation.Level); ok {
						d, dlo, dhi, sig, de = &c.Diff, &c.Lo, &c.Hi, &c.Significant, &c.DesignEffect
					}
				}
			}
			change, clo, chi, significant, previous = append(change, d), append(clo, dlo), append(chi, dhi), append(significant, sig), append(previous, pv)
			changeDeff = append(changeDeff, de)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO round_area (round_id, level, code, parent_code, status, households, children, hazardous, child_labour,
				prevalence, prevalence_lo, prevalence_hi, previous_round, change, change_lo, change_hi, change_significant, change_design_effect)
			SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::int[], $9::int[],
				$10::float8[], $11::float8[], $12::float8[], $13::text[], $14::float8[], $15::float8[], $16::float8[], $17::boolean[], $18::float8[]) AS u`,
			round, levels, codes, nullIfEmpty(parents), statuses, hh, ch, hz, cl, prevalence, plo, phi, previous, change, clo, chi, significant, changeDeff); err != nil {
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

// roundPanel returns the panel of round and the round before it: the
// figures taken once (round_panel), or, when none are kept yet, taken now
// from the children both rounds' bases counted (release_member: the same
// household identity and person, aged within the child rule's ages in
// each round, classified by this run) if they share at least
// risk.MinPanelPairs; else a zero Panel (independent rounds).
func roundPanel(ctx context.Context, tx pgx.Tx, m *risk.Model, round, previous string, children float64) (risk.Panel, error) {
	var p risk.Panel
	err := tx.QueryRow(ctx, `SELECT pairs, overlap, correlation FROM round_panel WHERE round_id = $1 AND previous_round = $2`,
		round, previous).Scan(&p.Pairs, &p.Overlap, &p.Correlation)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return p, err
	}
	// release_member was refreshed in this transaction: its statistics
	// would say empty, and a plan for a few rows over 100,000 takes minutes.
	// The pairs are found by grouping (no self-join), which no estimate
	// can make quadratic.
	if _, err := tx.Exec(ctx, `ANALYZE release_member`); err != nil {
		return p, err
	}
	rows, err := tx.Query(ctx, `
		WITH kids AS (
			SELECT m.round_id, m.village_code, h.identity_id, c.person, k.classification IN ('hazardous', 'child_labour') AS y
			FROM release_member m JOIN household h ON h.id = m.household_id
			JOIN child c ON c.household_id = h.id
			JOIN child_class_next k ON k.household_id = c.household_id AND k.ordinal = c.ordinal
			WHERE m.round_id IN ($1, $2) AND c.person IS NOT NULL AND c.age BETWEEN $3 AND $4),
		pairs AS (
			SELECT min(village_code) FILTER (WHERE round_id = $1) AS village,
				bool_or(y) FILTER (WHERE round_id = $2) AS before, bool_or(y) FILTER (WHERE round_id = $1) AS after
			FROM kids GROUP BY identity_id, person
			HAVING count(*) FILTER (WHERE round_id = $1) = 1 AND count(*) FILTER (WHERE round_id = $2) = 1)
		SELECT count(*), count(*) FILTER (WHERE before), count(*) FILTER (WHERE after), count(*) FILTER (WHERE before AND after)
		FROM pairs GROUP BY village`, round, previous, m.ChildRule.MinWorkAge, m.ChildRule.MaxChildAge)
	if err != nil {
		return p, err
	}
	villages, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (risk.PanelVillage, error) {
		var v risk.PanelVillage
		return v, r.Scan(&v.Pairs, &v.Before, &v.After, &v.Both)
	})
	if err != nil {
		return p, err
	}
	p, ok := risk.PanelOf(villages, children)
	if !ok {
		return risk.Panel{}, nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO round_panel (round_id, previous_round, pairs, overlap, correlation) VALUES ($1, $2, $3, $4, $5)`,
		round, previous, p.Pairs, p.Overlap, p.Correlation)
	return p, err
}
