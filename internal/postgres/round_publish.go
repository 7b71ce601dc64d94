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
	areas  []risk.AreaCounts
	pub    map[string]risk.PublishedArea
	within *float64 // the pooled within-village variance of household scores
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
		areas, pub := shown.areas, shown.pub
		if round != shownRound || pub == nil {
			if areas, err = roundCounts(ctx, tx, m, round); err != nil {
				return err
			}
			if pub, _, err = risk.Publish(areas, m.Publication); err != nil {
				return err
			}
		}
		var s risk.ClusterSums
		if err := tx.QueryRow(ctx, `
			WITH k AS (SELECT k.n, k.y FROM household_kids k JOIN household h ON h.id = k.household_id WHERE h.round_id = $1 AND k.n > 0)
			SELECT (SELECT count(*) FROM household WHERE round_id = $1), count(*), coalesce(sum(y), 0), coalesce(sum(n), 0),
				coalesce(sum(y * y), 0), coalesce(sum(y * n), 0), coalesce(sum(n * n), 0) FROM k`, round).
			Scan(&s.Households, &s.HouseholdsWithKid, &s.Y, &s.N, &s.YY, &s.YN, &s.NN); err != nil {
			return err
		}
		deff := s.DesignEffect()
		if _, err := tx.Exec(ctx, `INSERT INTO round_summary (round_id, households, children, design_effect, score_run_id) VALUES ($1, $2, $3, $4, 0)`,
			round, s.Households, int(s.N), deff); err != nil {
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

// roundCounts returns every area's true counts in one round, as trueCounts
// does for area_score: children aged min_work_age..max_child_age by class,
// households and the labourer and poor ones; parents are sums.
func roundCounts(ctx context.Context, tx pgx.Tx, m *risk.Model, round string) ([]risk.AreaCounts, error) {
	rows, err := tx.Query(ctx, `
		WITH hh AS (
			SELECT h.village_code, count(*) AS households,
				count(*) FILTER (WHERE h.livelihoods && $2::text[]) AS labourers,
				count(*) FILTER (WHERE h.poverty_programmes && $3::text[]) AS poor
			FROM household h WHERE h.round_id = $1 GROUP BY 1),
		ch AS (
			SELECT h.village_code, count(*) AS children,
				count(*) FILTER (WHERE k.classification = 'hazardous') AS hazardous,
				count(*) FILTER (WHERE k.classification = 'child_labour') AS child_labour,
				count(*) FILTER (WHERE k.classification = 'light_work') AS light_work,
				count(*) FILTER (WHERE k.classification = 'not_working') AS not_working
			FROM child c JOIN child_class_next k USING (household_id, ordinal) JOIN household h ON h.id = c.household_id
			WHERE h.round_id = $1 AND c.age BETWEEN $4 AND $5 GROUP BY 1)
		SELECT v.code, v.kecamatan_code, k.kabupaten_code, coalesce(hh.households, 0), coalesce(hh.labourers, 0), coalesce(hh.poor, 0),
			coalesce(ch.children, 0), coalesce(ch.hazardous, 0), coalesce(ch.child_labour, 0), coalesce(ch.light_work, 0), coalesce(ch.not_working, 0)
		FROM village v JOIN kecamatan k ON k.code = v.kecamatan_code
		LEFT JOIN hh ON hh.village_code = v.code LEFT JOIN ch ON ch.village_code = v.code
		ORDER BY v.code`, round, m.Household.LabourLivelihoods, m.Household.PovertyProgrammes, m.ChildRule.MinWorkAge, m.ChildRule.MaxChildAge)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []risk.AreaCounts
	parents := map[string]*risk.AreaCounts{}
	var order []string
	measures := []string{"households", "labourer_households", "poor_households", "children", "hazardous", "child_labour", "light_work", "not_working"}
	for rows.Next() {
		var code, kec, kab string
		var n [8]int
		if err := rows.Scan(&code, &kec, &kab, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7]); err != nil {
			return nil, err
		}
		a := risk.AreaCounts{Area: "desa:" + code, Parent: "kecamatan:" + kec, Leaf: true, Counts: map[string]int{}}
		for i, ms := range measures {
			a.Counts[ms] = n[i]
		}
		out = append(out, a)
		for _, p := range [][2]string{{"kecamatan:" + kec, "kabupaten:" + kab}, {"kabupaten:" + kab, ""}} {
			pa, ok := parents[p[0]]
			if !ok {
				pa = &risk.AreaCounts{Area: p[0], Parent: p[1], Counts: map[string]int{}}
				parents[p[0]] = pa
				order = append(order, p[0])
			}
			for i, ms := range measures {
				pa.Counts[ms] += n[i]
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, p := range order {
		out = append(out, *parents[p])
	}
	return out, nil
}
