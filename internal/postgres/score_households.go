package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// scoreHouseholds weighs each household's indicators into a score 0-100 and
// its seasonal curve.
func scoreHouseholds(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	h, w, r := m.Household, m.Household.Weights, m.ChildRule
	_, err := tx.Exec(ctx, `
		CREATE TEMP TABLE household_kids ON COMMIT DROP AS
		SELECT c.household_id,
			bool_or(c.age BETWEEN @light_work_min_age AND @max_child_age) AS older,
			bool_or(c.age >= @school_min_age AND (c.school_status IN ('not_enrolled', 'dropped_out') OR c.harvest_absence_days >= @harvest_absence_days)) AS school,
			bool_or(c.tasks && @exposure_tasks::text[]) AS leaf,
			bool_or(c.orphan <> 'no') AS orphan,
			bool_or(c.disability OR c.special_needs) AS disability,
			-- the first hazardous child's reason, else the first child labourer's:
			-- min() over a sortable prefix is cheaper than an ordered array_agg
			substr(min(CASE k.classification WHEN 'hazardous' THEN '0' WHEN 'child_labour' THEN '1' END
				|| lpad(c.ordinal::text, 5, '0') || k.classification || ': ' || k.reason), 7) AS top_reason
		FROM child c JOIN child_class_next k USING (household_id, ordinal)
		GROUP BY c.household_id`,
		pgx.NamedArgs{"light_work_min_age": r.LightWorkMinAge, "max_child_age": r.MaxChildAge,
			"harvest_absence_days": h.HarvestAbsenceDays, "exposure_tasks": h.ExposureTasks, "school_min_age": h.SchoolMinAge})
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE INDEX ON household_kids (household_id)`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE household_score_next (LIKE household_score INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO household_score_next (household_id, village_code, score, tier, top_tier_reason, components, nearest_field_m, variety)
		SELECT h.id, h.village_code, s.score,
			CASE WHEN k.top_reason IS NOT NULL OR s.score >= @tier_high THEN 'high' WHEN s.score >= @tier_medium THEN 'medium' ELSE 'low' END,
			k.top_reason, s.components, n.d, coalesce(cal.variety, @default_variety)
		FROM household h
		LEFT JOIN household_kids k ON k.household_id = h.id
		LEFT JOIN household_near n ON n.id = h.id
		LEFT JOIN village_variety vv ON vv.village_code = h.village_code
		LEFT JOIN calendar cal ON cal.variety = coalesce(n.variety, vv.variety)
		CROSS JOIN LATERAL (SELECT
			CASE WHEN coalesce(k.older, false) THEN @w_children_13_17::float8 ELSE 0 END AS older,
			CASE WHEN h.livelihoods && @labour_livelihoods::text[] THEN @w_farm_labourer::float8 ELSE 0 END AS labourer,
			CASE WHEN coalesce(k.school, false) THEN @w_school::float8 ELSE 0 END AS school,
			CASE WHEN coalesce(k.leaf, false) THEN @w_handled_leaf::float8 ELSE 0 END AS leaf,
			CASE WHEN n.d IS NOT NULL OR h.livelihoods && @grower_livelihoods::text[] THEN @w_tobacco_proximity::float8 ELSE 0 END AS near,
			CASE WHEN h.poverty_programmes && @poverty_programmes::text[] THEN @w_poverty::float8 ELSE 0 END AS poverty,
			CASE WHEN h.single_parent OR coalesce(k.orphan, false) THEN @w_single_parent_or_orphan::float8 ELSE 0 END AS single,
			CASE WHEN coalesce(k.disability, false) THEN @w_disability::float8 ELSE 0 END AS disability,
			CASE WHEN h.working_adults = 0 OR (h.members - h.working_adults)::float8 / h.working_adults >= @dependency_ratio
				THEN @w_dependency::float8 ELSE 0 END AS dependency,
			CASE WHEN h.caregiver_education = ANY (@low_education::text[]) THEN @w_low_caregiver_education::float8 ELSE 0 END AS education) p
		CROSS JOIN LATERAL (SELECT
			(p.older + p.labourer + p.school + p.leaf + p.near + p.poverty + p.single + p.disability + p.dependency + p.education)::real AS score,
			jsonb_build_object('children_13_17', p.older, 'farm_labourer', p.labourer, 'school', p.school,
				'handled_leaf', p.leaf, 'tobacco_proximity', p.near, 'poverty', p.poverty,
				'single_parent_or_orphan', p.single, 'disability', p.disability, 'dependency', p.dependency,
				'low_caregiver_education', p.education) AS components) s`,
		pgx.NamedArgs{"w_children_13_17": w["children_13_17"], "w_farm_labourer": w["farm_labourer"], "w_school": w["school"],
			"w_handled_leaf": w["handled_leaf"], "w_tobacco_proximity": w["tobacco_proximity"], "w_poverty": w["poverty"],
			"w_single_parent_or_orphan": w["single_parent_or_orphan"], "w_disability": w["disability"], "w_dependency": w["dependency"],
			"w_low_caregiver_education": w["low_caregiver_education"], "labour_livelihoods": h.LabourLivelihoods,
			"grower_livelihoods": h.GrowerLivelihoods, "poverty_programmes": h.PovertyProgrammes, "tier_medium": m.Tiers.Medium,
			"tier_high": m.Tiers.High, "default_variety": m.DefaultVariety, "dependency_ratio": h.DependencyRatio,
			"low_education": h.LowEducation})
	return err
}
