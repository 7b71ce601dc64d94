package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// Stage is one timed step of a scoring run.
type Stage struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// ScoreRun is what one scoring run did.
type ScoreRun struct {
	ID           int64
	ModelVersion string
	Month        int // the month hotspots were computed for; 0 for the annual score
	Stages       []Stage
	Households   int
	Children     int
	Villages     int            // villages with a score (at least one surveyed household)
	Classes      map[string]int // children by classification
	Tiers        map[string]int // households by tier
	Hotspots     map[string]int // villages by hotspot class
	Publication  PublicationSummary
}

// Score runs the risk model over the whole database in one transaction:
// classify every child, score every household (with its seasonal curve),
// aggregate villages and roll them up to kecamatan and kabupaten, and find
// hotspots. Readers see the previous run until it commits. Every step but the
// hotspot statistic is set-based SQL; the model reaches SQL as parameters.
func (db *DB) Score(ctx context.Context, m *risk.Model, month int) (ScoreRun, error) {
	run := ScoreRun{ModelVersion: m.Version, Month: month, Classes: map[string]int{}, Tiers: map[string]int{}, Hotspots: map[string]int{}}
	if month < 0 || month > 12 {
		return run, risk.Errorf(risk.EINVALID, "month %d: want 1..12, or 0 for the annual score", month)
	}
	started := time.Now()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return run, err
	}
	defer tx.Rollback(ctx)
	// Hash joins and aggregates over millions of children stay in memory
	// with a larger work_mem; JIT costs more than it saves on these plans.
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off; SET LOCAL work_mem = '256MB'; SET LOCAL maintenance_work_mem = '256MB'"); err != nil {
		return run, err
	}
	stage := func(name string, f func() error) error {
		t := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("score: %s: %w", name, err)
		}
		run.Stages = append(run.Stages, Stage{Name: name, Seconds: time.Since(t).Seconds()})
		return nil
	}
	steps := []struct {
		name string
		f    func() error
	}{
		{"classify children", func() error { return classifyChildren(ctx, tx, m) }},
		{"locate tobacco near households", func() error { return nearFields(ctx, tx, m) }},
		{"score households", func() error { return scoreHouseholds(ctx, tx, m) }},
		{"aggregate villages", func() error { return scoreVillages(ctx, tx, m) }},
		{"roll up kecamatan and kabupaten", func() error { return rollUp(ctx, tx, m) }},
		{"publish", func() error { return publish(ctx, tx, m, &run.Publication) }},
		{"hotspots", func() error { return hotspots(ctx, tx, m, month, nil) }},
		{"geomask households", func() error { return maskHouseholds(ctx, tx) }},
		{"disclosure check", func() error { return checkPublication(ctx, tx, m) }},
	}
	for _, s := range steps {
		if err := stage(s.name, s.f); err != nil {
			return run, err
		}
	}
	if err := countRun(ctx, tx, &run); err != nil {
		return run, err
	}
	model, err := json.Marshal(m)
	if err != nil {
		return run, err
	}
	stages, _ := json.Marshal(run.Stages)
	var monthArg any
	if month > 0 {
		monthArg = month
	}
	if err := tx.QueryRow(ctx, `INSERT INTO score_run (model_version, model, month, started_at, stages, households, children, villages)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		m.Version, model, monthArg, started, stages, run.Households, run.Children, run.Villages).Scan(&run.ID); err != nil {
		return run, err
	}
	t := time.Now()
	if err := tx.Commit(ctx); err != nil {
		return run, err
	}
	run.Stages = append(run.Stages, Stage{Name: "commit", Seconds: time.Since(t).Seconds()})
	return run, nil
}

// classifyChildren applies risk.ClassifyChild's rule to every child at once.
func classifyChildren(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	r := m.ChildRule
	if _, err := tx.Exec(ctx, `DELETE FROM child_class`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO child_class (household_id, ordinal, classification, reason)
		SELECT c.household_id, c.ordinal, k.class, k.reason
		FROM child c
		CROSS JOIN LATERAL (SELECT CASE WHEN c.tasks && $1::text[]
			THEN (SELECT t FROM unnest(c.tasks) t WHERE t = ANY ($1::text[]) LIMIT 1) END AS task) h
		CROSS JOIN LATERAL (SELECT
			CASE
				WHEN c.age > $2 THEN 'not_working'
				WHEN h.task IS NOT NULL THEN 'hazardous'
				WHEN $3 AND cardinality(c.gts_symptoms) > 0 THEN 'hazardous'
				WHEN NOT c.works OR c.age < $4 THEN 'not_working'
				WHEN c.age < $5 THEN 'child_labour'
				WHEN c.age < $6 THEN CASE WHEN c.work_hours_week > $7 OR c.work_hours_day > $8 OR c.works_in_school_hours
					THEN 'child_labour' ELSE 'light_work' END
				WHEN c.work_hours_week > $9 THEN 'child_labour'
				ELSE 'not_working'
			END AS class,
			CASE
				WHEN c.age > $2 THEN format('aged %s: not a child under the model', c.age)
				WHEN h.task IS NOT NULL THEN 'hazardous task: ' || h.task
				WHEN $3 AND cardinality(c.gts_symptoms) > 0 THEN 'green tobacco sickness symptoms'
				WHEN NOT c.works OR c.age < $4 THEN 'not working'
				WHEN c.age < $5 THEN format('works at age %s (under %s)', c.age, $5)
				WHEN c.age < $6 THEN CASE
					WHEN c.work_hours_week > $7 THEN format('%s h a week at age %s (over %s)', c.work_hours_week, c.age, $7)
					WHEN c.work_hours_day > $8 THEN format('%s h a day at age %s (over %s)', c.work_hours_day, c.age, $8)
					WHEN c.works_in_school_hours THEN format('works in school hours at age %s', c.age)
					ELSE format('light work at age %s', c.age) END
				WHEN c.work_hours_week > $9 THEN format('%s h a week at age %s (over %s)', c.work_hours_week, c.age, $9)
				ELSE format('permitted work at age %s', c.age)
			END AS reason) k`,
		r.HazardousTasks, r.MaxChildAge, r.GTSSymptomsAreHazardous, r.MinWorkAge, r.LightWorkMinAge, r.OlderMinAge,
		r.LightWorkMaxHoursWeek, r.LightWorkMaxHoursDay, r.OlderMaxHoursWeek)
	return err
}

// nearFields finds, for every household within the model's radius of a
// tobacco field, the nearest field and its distance. Distances are planar in
// the model's metric CRS; fields drive the join through a GiST index on the
// households' projected points, which are stored in spatial order.
func nearFields(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	srid, radius := m.Household.ProjectedSRID, m.Household.ProximityRadiusM
	err := execAll(ctx, tx, []statement{
		{`CREATE TEMP TABLE field_p ON COMMIT DROP AS SELECT id, variety, ST_Transform(geom, $1::int) AS g FROM plantation`, []any{srid}},
		{`CREATE TEMP TABLE household_p ON COMMIT DROP AS SELECT id, ST_Transform(geom, $1::int) AS g FROM household ORDER BY geom`, []any{srid}},
		{`CREATE INDEX ON household_p USING gist (g)`, nil},
		{`CREATE TEMP TABLE household_near ON COMMIT DROP AS
			SELECT DISTINCT ON (h.id) h.id, f.variety, ST_Distance(f.g, h.g) AS d
			FROM field_p f CROSS JOIN LATERAL (
				SELECT h.id, h.g FROM household_p h WHERE ST_DWithin(f.g, h.g, $1::float8) OFFSET 0) h
			ORDER BY h.id, ST_Distance(f.g, h.g), f.id`, []any{radius}},
		{`CREATE INDEX ON household_near (id)`, nil},
		{`CREATE TEMP TABLE village_variety ON COMMIT DROP AS
			SELECT DISTINCT ON (village_code) village_code, variety
			FROM plantation WHERE village_code IS NOT NULL
			GROUP BY village_code, variety
			ORDER BY village_code, sum(area_m2) DESC, variety`, nil},
	})
	if err != nil {
		return err
	}
	// The model's calendars first; imported calendars fill in other varieties.
	cal, err := json.Marshal(m.Calendar)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		CREATE TEMP TABLE calendar ON COMMIT DROP AS
		SELECT key AS variety, array(SELECT x::float8 FROM jsonb_array_elements_text(value) x) AS idx
		FROM jsonb_each($1::jsonb)
		UNION ALL
		SELECT variety, array_agg(labour_index::float8 ORDER BY month) FROM labour_calendar
		WHERE NOT ($1::jsonb ? variety) GROUP BY variety HAVING count(*) = 12`, cal)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DELETE FROM score_calendar;
		INSERT INTO score_calendar (variety, labour_index) SELECT variety, idx::real[] FROM calendar`)
	return err
}

// scoreHouseholds weighs each household's indicators into a score 0-100 and
// its seasonal curve.
func scoreHouseholds(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	h, w, r := m.Household, m.Household.Weights, m.ChildRule
	_, err := tx.Exec(ctx, `
		CREATE TEMP TABLE household_kids ON COMMIT DROP AS
		SELECT c.household_id,
			bool_or(c.age BETWEEN $1 AND $2) AS older,
			bool_or(c.school_status IN ('not_enrolled', 'dropped_out') OR c.harvest_absence_days >= $3) AS school,
			bool_or(c.tasks && $4::text[]) AS leaf,
			bool_or(c.orphan <> 'no') AS orphan,
			bool_or(c.disability OR c.special_needs) AS disability,
			-- the first hazardous child's reason, else the first child labourer's:
			-- min() over a sortable prefix is cheaper than an ordered array_agg
			substr(min(CASE k.classification WHEN 'hazardous' THEN '0' WHEN 'child_labour' THEN '1' END
				|| lpad(c.ordinal::text, 5, '0') || k.classification || ': ' || k.reason), 7) AS top_reason
		FROM child c JOIN child_class k USING (household_id, ordinal)
		GROUP BY c.household_id`,
		r.LightWorkMinAge, r.MaxChildAge, h.HarvestAbsenceDays, h.ExposureTasks)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE INDEX ON household_kids (household_id); DELETE FROM household_score`); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO household_score (household_id, village_code, score, tier, top_tier_reason, components, nearest_field_m, variety)
		SELECT h.id, h.village_code, s.score,
			CASE WHEN k.top_reason IS NOT NULL OR s.score >= $15 THEN 'high' WHEN s.score >= $14 THEN 'medium' ELSE 'low' END,
			k.top_reason, s.components, n.d, cal.variety
		FROM household h
		LEFT JOIN household_kids k ON k.household_id = h.id
		LEFT JOIN household_near n ON n.id = h.id
		LEFT JOIN village_variety vv ON vv.village_code = h.village_code
		CROSS JOIN LATERAL (
			SELECT variety, idx FROM calendar WHERE variety = coalesce(n.variety, vv.variety)
			UNION ALL
			SELECT variety, idx FROM calendar WHERE variety = $16
			LIMIT 1) cal
		CROSS JOIN LATERAL (SELECT
			CASE WHEN coalesce(k.older, false) THEN $1::float8 ELSE 0 END AS older,
			CASE WHEN h.livelihoods && $11::text[] THEN $2::float8 ELSE 0 END AS labourer,
			CASE WHEN coalesce(k.school, false) THEN $3::float8 ELSE 0 END AS school,
			CASE WHEN coalesce(k.leaf, false) THEN $4::float8 ELSE 0 END AS leaf,
			CASE WHEN n.id IS NOT NULL OR h.livelihoods && $12::text[] THEN $5::float8 ELSE 0 END AS near,
			CASE WHEN h.poverty_programmes && $13::text[] THEN $6::float8 ELSE 0 END AS poverty,
			CASE WHEN h.single_parent OR coalesce(k.orphan, false) THEN $7::float8 ELSE 0 END AS single,
			CASE WHEN coalesce(k.disability, false) THEN $8::float8 ELSE 0 END AS disability,
			CASE WHEN h.working_adults = 0 OR (h.members - h.working_adults)::float8 / h.working_adults >= $17
				THEN $9::float8 ELSE 0 END AS dependency,
			CASE WHEN h.caregiver_education = ANY ($18::text[]) THEN $10::float8 ELSE 0 END AS education) p
		CROSS JOIN LATERAL (SELECT
			(p.older + p.labourer + p.school + p.leaf + p.near + p.poverty + p.single + p.disability + p.dependency + p.education)::real AS score,
			jsonb_build_object('children_13_17', p.older, 'farm_labourer', p.labourer, 'school', p.school,
				'handled_leaf', p.leaf, 'tobacco_proximity', p.near, 'poverty', p.poverty,
				'single_parent_or_orphan', p.single, 'disability', p.disability, 'dependency', p.dependency,
				'low_caregiver_education', p.education) AS components) s`,
		w["children_13_17"], w["farm_labourer"], w["school"], w["handled_leaf"], w["tobacco_proximity"],
		w["poverty"], w["single_parent_or_orphan"], w["disability"], w["dependency"], w["low_caregiver_education"],
		h.LabourLivelihoods, h.GrowerLivelihoods, h.PovertyProgrammes, m.Tiers.Medium, m.Tiers.High, m.DefaultVariety,
		h.DependencyRatio, h.LowEducation)
	return err
}

// scoreVillages aggregates households and children by village, smooths
// prevalence toward the kecamatan rate (Marshall's empirical Bayes), adds the
// share under tobacco and the missing institutions, and weighs it all.
func scoreVillages(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	w, f := m.Village.Weights, m.Village.FullAt
	err := execAll(ctx, tx, []statement{
		{`CREATE TEMP TABLE village_households ON COMMIT DROP AS
			SELECT h.village_code, count(*) AS households, avg(s.score) AS mean_score, max(s.score) AS max_score,
				avg((h.livelihoods && $1::text[])::int) AS labourer_share,
				avg((h.poverty_programmes && $2::text[])::int) AS poverty_share,
				count(*) FILTER (WHERE h.livelihoods && $1::text[]) AS labourers,
				count(*) FILTER (WHERE h.poverty_programmes && $2::text[]) AS poor
			FROM household h JOIN household_score s ON s.household_id = h.id
			GROUP BY h.village_code`, []any{m.Household.LabourLivelihoods, m.Household.PovertyProgrammes}},
		{`CREATE TEMP TABLE village_children ON COMMIT DROP AS
			SELECT h.village_code, count(*) AS children,
				count(*) FILTER (WHERE k.classification = 'hazardous') AS hazardous,
				count(*) FILTER (WHERE k.classification = 'child_labour') AS child_labour,
				count(*) FILTER (WHERE k.classification = 'light_work') AS light_work,
				count(*) FILTER (WHERE k.classification = 'not_working') AS not_working
			FROM child c JOIN child_class k USING (household_id, ordinal) JOIN household h ON h.id = c.household_id
			WHERE c.age BETWEEN $1 AND $2
			GROUP BY h.village_code`, []any{m.ChildRule.MinWorkAge, m.ChildRule.MaxChildAge}},
		{`CREATE TEMP TABLE village_tobacco ON COMMIT DROP AS
			SELECT v.code, least(sum(ST_Area(ST_Intersection(p.geom, v.geom)::geography)) / max(v.area_m2), 1) AS share
			FROM village v JOIN plantation p ON ST_Intersects(p.geom, v.geom)
			GROUP BY v.code`, nil},
		{`DELETE FROM area_score`, nil},
	})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		WITH base AS (
			SELECT v.code, v.kecamatan_code, v.area_m2,
				coalesce(hh.households, 0) AS households, coalesce(hh.labourers, 0) AS labourers, coalesce(hh.poor, 0) AS poor, hh.mean_score, hh.max_score, hh.labourer_share, hh.poverty_share,
				coalesce(ch.children, 0) AS n, coalesce(ch.hazardous + ch.child_labour, 0) AS x,
				coalesce(ch.hazardous, 0) AS hazardous, coalesce(ch.child_labour, 0) AS child_labour,
				coalesce(ch.light_work, 0) AS light_work, coalesce(ch.not_working, 0) AS not_working,
				coalesce(t.share, 0) AS tobacco_share,
				array(SELECT unnest($1::text[]) EXCEPT SELECT kind FROM institution i WHERE i.village_code = v.code ORDER BY 1) AS missing
			FROM village v
			LEFT JOIN village_households hh ON hh.village_code = v.code
			LEFT JOIN village_children ch ON ch.village_code = v.code
			LEFT JOIN village_tobacco t ON t.code = v.code),
		-- Marshall (1991): the kecamatan rate p, the between-village variance
		-- beyond binomial noise A = s2 - p / nbar, and each village's rate
		-- shrunk toward p by A / (A + p / n): little data, much shrinkage.
		kec AS (
			SELECT kecamatan_code, sum(x)::float8 / nullif(sum(n), 0) AS p, avg(n) FILTER (WHERE n > 0) AS nbar,
				sum(n) AS total
			FROM base GROUP BY kecamatan_code),
		spread AS (
			SELECT b.kecamatan_code, greatest(sum(b.n * (b.x::float8 / b.n - k.p) ^ 2) / k.total - k.p / k.nbar, 0) AS a
			FROM base b JOIN kec k USING (kecamatan_code) WHERE b.n > 0
			GROUP BY b.kecamatan_code, k.p, k.total, k.nbar),
		rates AS (
			SELECT b.*, b.x::float8 / nullif(b.n, 0) AS prevalence,
				CASE WHEN b.n = 0 THEN NULL
				     WHEN k.p = 0 OR s.a + k.p / b.n = 0 THEN k.p
				     ELSE k.p + s.a / (s.a + k.p / b.n) * (b.x::float8 / b.n - k.p) END AS smoothed
			FROM base b JOIN kec k USING (kecamatan_code) LEFT JOIN spread s USING (kecamatan_code)),
		points AS (
			SELECT r.*,
				$2::float8 * least(coalesce(r.smoothed, 0) / $8, 1) AS p_prevalence,
				$3::float8 * least(coalesce(r.mean_score, 0) / $9, 1) AS p_mean,
				$4::float8 * least(r.tobacco_share / $10, 1) AS p_tobacco,
				$5::float8 * least(coalesce(r.labourer_share, 0) / $11, 1) AS p_labourer,
				$6::float8 * least(coalesce(r.poverty_share, 0) / $12, 1) AS p_poverty,
				$7::float8 * least(cardinality(r.missing)::float8 / $13, 1) AS p_institutions
			FROM rates r)
		INSERT INTO area_score (level, code, parent_code, households, children, hazardous, child_labour, light_work,
			not_working, prevalence, prevalence_smoothed, mean_household_score, max_household_score, tobacco_share,
			farm_labourer_share, poverty_share, institutions_missing, score, tier, components, monthly,
			labourer_households, poor_households)
		SELECT 'desa', p.code, p.kecamatan_code, p.households, p.n, p.hazardous, p.child_labour, p.light_work,
			p.not_working, p.prevalence, p.smoothed, p.mean_score, p.max_score, p.tobacco_share, p.labourer_share,
			p.poverty_share, p.missing, s.score,
			CASE WHEN p.households = 0 THEN 'no_data' WHEN s.score >= $15 THEN 'high' WHEN s.score >= $14 THEN 'medium' ELSE 'low' END,
			CASE WHEN p.households > 0 THEN jsonb_build_object('prevalence', p.p_prevalence, 'mean_household_score', p.p_mean,
				'tobacco_share', p.p_tobacco, 'farm_labourer_share', p.p_labourer, 'poverty_share', p.p_poverty,
				'institutions_missing', p.p_institutions) END,
			CASE WHEN p.households > 0 THEN array(SELECT round((s.score * x)::numeric, 2)::real FROM unnest(cal.idx) x) END,
			p.labourers, p.poor
		FROM points p
		LEFT JOIN village_variety vv ON vv.village_code = p.code
		CROSS JOIN LATERAL (
			SELECT idx FROM calendar WHERE variety = vv.variety
			UNION ALL SELECT idx FROM calendar WHERE variety = $16 LIMIT 1) cal
		CROSS JOIN LATERAL (SELECT CASE WHEN p.households > 0 THEN (p.p_prevalence + p.p_mean + p.p_tobacco + p.p_labourer
			+ p.p_poverty + p.p_institutions)::real END AS score) s`,
		m.Village.Institutions,
		w["prevalence"], w["mean_household_score"], w["tobacco_share"], w["farm_labourer_share"], w["poverty_share"], w["institutions_missing"],
		f["prevalence"], f["mean_household_score"], f["tobacco_share"], f["farm_labourer_share"], f["poverty_share"], f["institutions_missing"],
		m.Tiers.Medium, m.Tiers.High, m.DefaultVariety)
	return err
}

// rollUp aggregates villages to kecamatan, then kecamatan to kabupaten:
// counts add up, rates are recomputed from the sums, scores and curves are
// averaged over villages weighted by surveyed households.
func rollUp(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	for _, lv := range []struct{ level, from, parent string }{
		{"kecamatan", "desa", "left(a.parent_code, 5)"},
		{"kabupaten", "kecamatan", "NULL::text"},
	} {
		// Identifiers come from the constant list above, never from input.
		_, err := tx.Exec(ctx, `
			INSERT INTO area_score (level, code, parent_code, households, children, hazardous, child_labour, light_work,
				not_working, prevalence, prevalence_smoothed, mean_household_score, max_household_score, tobacco_share,
				farm_labourer_share, poverty_share, score, tier, monthly, labourer_households, poor_households)
			SELECT $1, g.code, g.parent, g.households, g.children, g.hazardous, g.child_labour, g.light_work, g.not_working,
				(g.hazardous + g.child_labour)::float8 / nullif(g.children, 0), NULL, g.mean_score, g.max_score,
				g.tobacco_share, g.labourer_share, g.poverty_share, g.score,
				CASE WHEN g.households = 0 THEN 'no_data' WHEN g.score >= $4 THEN 'high' WHEN g.score >= $3 THEN 'medium' ELSE 'low' END,
				(SELECT array_agg(v ORDER BY i) FROM (
					SELECT i, round((sum(x * b.households) / nullif(sum(b.households), 0))::numeric, 2)::real AS v
					FROM area_score b, unnest(b.monthly) WITH ORDINALITY u(x, i)
					WHERE b.level = $2 AND b.parent_code = g.code GROUP BY i) mm),
				g.labourers, g.poor
			FROM (
				SELECT a.parent_code AS code, `+lv.parent+` AS parent, sum(a.households)::int AS households,
					sum(a.children)::int AS children, sum(a.hazardous)::int AS hazardous, sum(a.child_labour)::int AS child_labour,
					sum(a.light_work)::int AS light_work, sum(a.not_working)::int AS not_working,
					sum(a.labourer_households)::int AS labourers, sum(a.poor_households)::int AS poor,
					sum(a.mean_household_score * a.households) / nullif(sum(a.households), 0) AS mean_score,
					max(a.max_household_score) AS max_score,
					sum(a.tobacco_share * v.area) / nullif(sum(v.area), 0) AS tobacco_share,
					sum(a.farm_labourer_share * a.households) / nullif(sum(a.households), 0) AS labourer_share,
					sum(a.poverty_share * a.households) / nullif(sum(a.households), 0) AS poverty_share,
					sum(a.score * a.households) / nullif(sum(a.households), 0) AS score
				FROM area_score a
				CROSS JOIN LATERAL (SELECT CASE WHEN $2 = 'desa'
					THEN (SELECT area_m2 FROM village WHERE code = a.code)
					ELSE (SELECT ST_Area(geom::geography) FROM kecamatan WHERE code = a.code) END AS area) v
				WHERE a.level = $2
				GROUP BY a.parent_code) g`,
			lv.level, lv.from, m.Tiers.Medium, m.Tiers.High)
		if err != nil {
			return fmt.Errorf("%s: %w", lv.level, err)
		}
	}
	return nil
}

// hotspots computes Getis-Ord Gi* of the village scores (or of one month's
// seasonal scores) over queen contiguity, or a distance band when the model
// sets one. PostGIS finds the neighbours; the statistic and its permutations
// run in the domain package.
func hotspots(ctx context.Context, tx pgx.Tx, m *risk.Model, month int, out *[]HotspotRow) error {
	rows, err := tx.Query(ctx, `
		WITH scored AS (
			SELECT a.code, CASE WHEN $1 > 0 THEN a.monthly[$1] ELSE a.score END AS value, v.geom
			FROM area_public a JOIN village v ON v.code = a.code
			WHERE a.level = 'desa' AND a.score IS NOT NULL)
		SELECT s.code, s.value, coalesce(array_agg(n.code ORDER BY n.code) FILTER (WHERE n.code IS NOT NULL), '{}')
		FROM scored s LEFT JOIN scored n ON n.code <> s.code AND (
			CASE WHEN $2 > 0 THEN ST_DWithin(ST_PointOnSurface(s.geom)::geography, ST_PointOnSurface(n.geom)::geography, $2)
			     ELSE ST_Intersects(s.geom, n.geom) END)
		GROUP BY s.code, s.value ORDER BY s.code`, month, m.Hotspots.DistanceBandM)
	if err != nil {
		return err
	}
	var codes []string
	var values []float64
	var names [][]string
	for rows.Next() {
		var code string
		var value float64
		var nb []string
		if err := rows.Scan(&code, &value, &nb); err != nil {
			return err
		}
		codes, values, names = append(codes, code), append(values, value), append(names, nb)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	index := make(map[string]int, len(codes))
	for i, c := range codes {
		index[c] = i
	}
	neighbours := make([][]int, len(codes))
	counts := make([]int, len(codes))
	for i, nb := range names {
		for _, c := range nb {
			neighbours[i] = append(neighbours[i], index[c])
		}
		counts[i] = len(nb)
	}
	sig := [3]float64{m.Hotspots.Significance[0], m.Hotspots.Significance[1], m.Hotspots.Significance[2]}
	res := risk.GetisOrdGiStar(values, neighbours, m.Hotspots.Permutations, m.Hotspots.Seed, sig)
	zs, ps, classes := make([]float64, len(res)), make([]float64, len(res)), make([]string, len(res))
	for i, h := range res {
		zs[i], ps[i], classes[i] = h.Z, h.P, h.Class
	}
	if _, err := tx.Exec(ctx, `DELETE FROM hotspot`); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO hotspot (village_code, value, neighbours, z, p, class)
		SELECT * FROM unnest($1::text[], $2::float8[], $3::int[], $4::float8[], $5::float8[], $6::text[])`,
		codes, values, counts, zs, ps, classes)
	if out != nil {
		for i := range codes {
			*out = append(*out, HotspotRow{Code: codes[i], Value: values[i], Neighbours: counts[i], Hotspot: res[i]})
		}
	}
	return err
}

// HotspotRow is one village's hotspot result.
type HotspotRow struct {
	Code       string
	Value      float64
	Neighbours int
	risk.Hotspot
}

// Hotspots recomputes the hotspots alone from the current village scores,
// in its own transaction, and returns them in code order.
func (db *DB) Hotspots(ctx context.Context, m *risk.Model, month int) ([]HotspotRow, error) {
	var out []HotspotRow
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return hotspots(ctx, tx, m, month, &out) })
	return out, err
}

func countRun(ctx context.Context, tx pgx.Tx, run *ScoreRun) error {
	for _, q := range []struct {
		sql string
		m   map[string]int
	}{
		{`SELECT classification, count(*) FROM child_class GROUP BY 1`, run.Classes},
		{`SELECT tier, count(*) FROM household_score GROUP BY 1`, run.Tiers},
		{`SELECT class, count(*) FROM hotspot GROUP BY 1`, run.Hotspots},
	} {
		rows, err := tx.Query(ctx, q.sql)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			q.m[k] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM household_score), (SELECT count(*) FROM child_class),
		(SELECT count(*) FROM area_score WHERE level = 'desa' AND score IS NOT NULL)`).Scan(&run.Households, &run.Children, &run.Villages)
}

// statement is one SQL statement and its arguments: pgx sends a statement
// with arguments on its own, so a sequence of them runs one by one.
type statement struct {
	sql  string
	args []any
}

func execAll(ctx context.Context, tx pgx.Tx, stmts []statement) error {
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			return err
		}
	}
	return nil
}
