package scoring

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// classifyChildren applies risk.ClassifyChild's rule to every child at once.
// A run that is not full (scope) classifies again, in place, only the
// children of the households in its scope.
func classifyChildren(ctx context.Context, tx pgx.Tx, m *risk.Model, sc *scope) error {
	r := m.ChildRule
	target, only, err := sc.target(ctx, tx, "child_class", "c.household_id")
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO `+target+` (household_id, ordinal, classification, reason)
		SELECT c.household_id, c.ordinal, k.class, k.reason
		FROM child c
		CROSS JOIN LATERAL (SELECT CASE WHEN c.tasks && @hazardous_tasks::text[]
			THEN (SELECT t FROM unnest(c.tasks) t WHERE t = ANY (@hazardous_tasks::text[]) LIMIT 1) END AS task) h
		CROSS JOIN LATERAL (SELECT
			CASE
				WHEN c.age > @max_child_age THEN 'not_working'
				WHEN h.task IS NOT NULL THEN 'hazardous'
				WHEN @gts_is_hazardous AND cardinality(c.gts_symptoms) > 0 THEN 'hazardous'
				WHEN NOT c.works OR c.age < @min_work_age THEN 'not_working'
				WHEN c.age < @light_work_min_age THEN 'child_labour'
				WHEN c.age < @older_min_age THEN CASE WHEN c.work_hours_week > @light_work_max_hours_week OR c.work_hours_day > @light_work_max_hours_day OR c.works_in_school_hours
					THEN 'child_labour' ELSE 'light_work' END
				WHEN c.work_hours_week > @older_max_hours_week THEN 'child_labour'
				ELSE 'not_working'
			END AS class,
			CASE
				WHEN c.age > @max_child_age THEN format('aged %s: not a child under the model', c.age)
				WHEN h.task IS NOT NULL THEN 'hazardous task: ' || h.task
				WHEN @gts_is_hazardous AND cardinality(c.gts_symptoms) > 0 THEN 'green tobacco sickness symptoms'
				WHEN NOT c.works OR c.age < @min_work_age THEN 'not working'
				WHEN c.age < @light_work_min_age THEN format('works at age %s (under %s)', c.age, @light_work_min_age)
				WHEN c.age < @older_min_age THEN CASE
					WHEN c.work_hours_week > @light_work_max_hours_week THEN format('%s h a week at age %s (over %s)', c.work_hours_week, c.age, @light_work_max_hours_week)
					WHEN c.work_hours_day > @light_work_max_hours_day THEN format('%s h a day at age %s (over %s)', c.work_hours_day, c.age, @light_work_max_hours_day)
					WHEN c.works_in_school_hours THEN format('works in school hours at age %s', c.age)
					ELSE format('light work at age %s', c.age) END
				WHEN c.work_hours_week > @older_max_hours_week THEN format('%s h a week at age %s (over %s)', c.work_hours_week, c.age, @older_max_hours_week)
				ELSE format('permitted work at age %s', c.age)
			END AS reason) k`+only,
		pgx.NamedArgs{"hazardous_tasks": r.HazardousTasks, "max_child_age": r.MaxChildAge, "gts_is_hazardous": r.GTSSymptomsAreHazardous,
			"min_work_age": r.MinWorkAge, "light_work_min_age": r.LightWorkMinAge, "older_min_age": r.OlderMinAge,
			"light_work_max_hours_week": r.LightWorkMaxHoursWeek, "light_work_max_hours_day": r.LightWorkMaxHoursDay,
			"older_max_hours_week": r.OlderMaxHoursWeek})
	if err != nil || !sc.full {
		return err
	}
	// The run's later joins over 2.3 M classes plan on these statistics.
	_, err = tx.Exec(ctx, `ANALYZE child_class_next`)
	return err
}
