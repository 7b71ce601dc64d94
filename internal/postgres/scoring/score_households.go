package scoring

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// scoreHouseholds weighs each household's indicators into a score 0-100 and
// its seasonal curve. A run that is not full (scope) scores again, in
// place, only the households in its scope, and takes what the release
// bases sum over the others' children from their kept scores.
func scoreHouseholds(ctx context.Context, tx pgx.Tx, m *risk.Model, sc *scope) error {
	h, w, r := m.Household, m.Household.Weights, m.ChildRule
	kids, kidsOnly := "household_kids", ""
	if !sc.full {
		kids, kidsOnly = "household_kids_scope", `
		WHERE c.household_id IN (SELECT id FROM scope_household)`
	}
	_, err := tx.Exec(ctx, `
		CREATE TEMP TABLE `+kids+` ON COMMIT DROP AS
		SELECT c.household_id,
			bool_or(c.age BETWEEN @light_work_min_age AND @max_child_age) AS older,
			bool_or(c.age >= @school_min_age AND (c.school_status IN ('not_enrolled', 'dropped_out') OR c.harvest_absence_days >= @harvest_absence_days)) AS school,
			bool_or(c.tasks && @exposure_tasks::text[]) AS leaf,
			bool_or(c.orphan <> 'no') AS orphan,
			bool_or(c.disability OR c.special_needs) AS disability,
			-- the first hazardous child's reason, else the first child labourer's:
			-- min() over a sortable prefix is cheaper than an ordered array_agg
			substr(min(CASE k.classification WHEN 'hazardous' THEN '0' ELSE '1' END
				|| lpad(c.ordinal::text, 5, '0') || k.classification || ': ' || k.reason)
				FILTER (WHERE k.classification IN ('hazardous', 'child_labour')), 7) AS top_reason,
			-- children aged min_work_age..max_child_age, and of them in child
			-- labour: the clusters of a round's design effect (publishRounds)
			count(*) FILTER (WHERE c.age BETWEEN @min_work_age AND @max_child_age) AS n,
			count(*) FILTER (WHERE c.age BETWEEN @min_work_age AND @max_child_age AND k.classification IN ('hazardous', 'child_labour')) AS y,
			-- and by class: what a village's release basis sums (refreshBases)
			count(*) FILTER (WHERE c.age BETWEEN @min_work_age AND @max_child_age AND k.classification = 'hazardous') AS n_hazardous,
			count(*) FILTER (WHERE c.age BETWEEN @min_work_age AND @max_child_age AND k.classification = 'child_labour') AS n_child_labour,
			count(*) FILTER (WHERE c.age BETWEEN @min_work_age AND @max_child_age AND k.classification = 'light_work') AS n_light_work,
			-- the households collection's counts, kept with the score
			count(*) AS children,
			count(*) FILTER (WHERE k.classification = 'hazardous') AS hazardous,
			count(*) FILTER (WHERE k.classification = 'child_labour') AS child_labour
		FROM child c JOIN child_class_next k USING (household_id, ordinal)`+kidsOnly+`
		GROUP BY c.household_id`,
		pgx.NamedArgs{"light_work_min_age": r.LightWorkMinAge, "max_child_age": r.MaxChildAge, "min_work_age": r.MinWorkAge,
			"harvest_absence_days": h.HarvestAbsenceDays, "exposure_tasks": h.ExposureTasks, "school_min_age": h.SchoolMinAge})
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE INDEX ON `+kids+` (household_id)`); err != nil {
		return err
	}
	target, only, err := sc.target(ctx, tx, "household_score", "h.id")
	if err != nil {
		return err
	}
	// Each component is 0 or its indicator's full weight: a household stores
	// the indicators it meets as bits (bit i: risk.HouseholdIndicators[i]) and
	// score_component the run's weights, to rebuild the components on reading.
	names := risk.HouseholdIndicators
	points := make([]float64, len(names))
	bits := make([]int, len(names))
	for i, n := range names {
		points[i], bits[i] = w[n], i
	}
	if _, err := tx.Exec(ctx, `DELETE FROM score_component`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO score_component (bit, name, points) SELECT * FROM unnest(@bits::int[], @names::text[], @points::real[])`,
		pgx.NamedArgs{"bits": bits, "names": names, "points": points}); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO `+target+` (household_id, village_code, score, tier, top_tier_reason, indicators, nearest_field_m, variety,
			n_children, n_hazardous, n_child_labour, kid_n, kid_y, kid_hazardous, kid_child_labour, kid_light_work)
		SELECT h.id, h.village_code, s.score,
			CASE WHEN k.top_reason IS NOT NULL OR s.score >= @tier_high THEN 'high' WHEN s.score >= @tier_medium THEN 'medium' ELSE 'low' END,
			k.top_reason, s.bits, n.d, coalesce(cal.variety, @default_variety),
			coalesce(k.children, 0), coalesce(k.hazardous, 0), coalesce(k.child_labour, 0),
			coalesce(k.n, 0), coalesce(k.y, 0), coalesce(k.n_hazardous, 0), coalesce(k.n_child_labour, 0), coalesce(k.n_light_work, 0)
		FROM household h
		LEFT JOIN `+kids+` k ON k.household_id = h.id
		LEFT JOIN household_near n ON n.household_id = h.id
		LEFT JOIN village_variety vv ON vv.village_code = h.village_code
		LEFT JOIN calendar cal ON cal.variety = coalesce(n.variety, vv.variety)
		CROSS JOIN LATERAL (SELECT
			coalesce(k.older, false) AS older,
			coalesce(h.livelihoods && @labour_livelihoods::text[], false) AS labourer,
			coalesce(k.school, false) AS school,
			coalesce(k.leaf, false) AS leaf,
			n.d IS NOT NULL OR coalesce(h.livelihoods && @grower_livelihoods::text[], false) AS near,
			coalesce(h.poverty_programmes && @poverty_programmes::text[], false) AS poverty,
			coalesce(h.single_parent, false) OR coalesce(k.orphan, false) AS single,
			coalesce(k.disability, false) AS disability,
			coalesce(h.working_adults = 0 OR (h.members - h.working_adults)::float8 / h.working_adults >= @dependency_ratio, false) AS dependency,
			coalesce(h.caregiver_education = ANY (@low_education::text[]), false) AS education) p
		CROSS JOIN LATERAL (SELECT
			(p.older::int * @w_children_13_17::float8 + p.labourer::int * @w_farm_labourer::float8 + p.school::int * @w_school::float8
			 + p.leaf::int * @w_handled_leaf::float8 + p.near::int * @w_tobacco_proximity::float8 + p.poverty::int * @w_poverty::float8
			 + p.single::int * @w_single_parent_or_orphan::float8 + p.disability::int * @w_disability::float8
			 + p.dependency::int * @w_dependency::float8 + p.education::int * @w_low_caregiver_education::float8)::real AS score,
			-- bit i is risk.HouseholdIndicators[i] (PostgreSQL gives | and << one precedence: hence the brackets)
			(p.older::int | (p.labourer::int << 1) | (p.school::int << 2) | (p.leaf::int << 3) | (p.near::int << 4)
			 | (p.poverty::int << 5) | (p.single::int << 6) | (p.disability::int << 7) | (p.dependency::int << 8)
			 | (p.education::int << 9))::smallint AS bits) s`+only,
		pgx.NamedArgs{"w_children_13_17": w["children_13_17"], "w_farm_labourer": w["farm_labourer"], "w_school": w["school"],
			"w_handled_leaf": w["handled_leaf"], "w_tobacco_proximity": w["tobacco_proximity"], "w_poverty": w["poverty"],
			"w_single_parent_or_orphan": w["single_parent_or_orphan"], "w_disability": w["disability"], "w_dependency": w["dependency"],
			"w_low_caregiver_education": w["low_caregiver_education"], "labour_livelihoods": h.LabourLivelihoods,
			"grower_livelihoods": h.GrowerLivelihoods, "poverty_programmes": h.PovertyProgrammes, "tier_medium": m.Tiers.Medium,
			"tier_high": m.Tiers.High, "default_variety": m.DefaultVariety, "dependency_ratio": h.DependencyRatio,
			"low_education": h.LowEducation})
	if err != nil || sc.full {
		return err
	}
	// What the release bases sum over every household's children
	// (household_kids): the scope's as found now, the others' as the run
	// that scored them found it, kept with their scores. A view, not a
	// copy (copying 3,000,000 households' counts took 18 s); prepare's
	// views go with it at the end of the run (scope.finish).
	_, err = tx.Exec(ctx, `CREATE TEMP VIEW household_kids AS
		SELECT household_id, n, y, n_hazardous, n_child_labour, n_light_work FROM household_kids_scope
		UNION ALL
		SELECT s.household_id, s.kid_n::bigint, s.kid_y::bigint, s.kid_hazardous::bigint, s.kid_child_labour::bigint, s.kid_light_work::bigint
		FROM household_score s WHERE s.n_children > 0 AND NOT EXISTS (SELECT 1 FROM scope_household x WHERE x.id = s.household_id)`)
	return err
}
