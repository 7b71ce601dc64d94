package scoring

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// scoreVillages aggregates households and children by village, smooths
// prevalence toward the kecamatan rate (Marshall's empirical Bayes), adds the
// share under tobacco and the missing institutions, and weighs it all.
func scoreVillages(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	w, f := m.Village.Weights, m.Village.FullAt
	round, err := shownRound(ctx, tx)
	if err != nil {
		return err
	}
	err = execAll(ctx, tx, []statement{
		{`CREATE TEMP TABLE village_households ON COMMIT DROP AS
			SELECT h.village_code, count(*) AS households, avg(s.score) AS mean_score, max(s.score) AS max_score,
				avg((h.livelihoods && $1::text[])::int) AS labourer_share,
				avg((h.poverty_programmes && $2::text[])::int) AS poverty_share,
				count(*) FILTER (WHERE h.livelihoods && $1::text[]) AS labourers,
				count(*) FILTER (WHERE h.poverty_programmes && $2::text[]) AS poor
			FROM household h JOIN household_score_next s ON s.household_id = h.id
			WHERE h.round_id = $3
			GROUP BY h.village_code`, []any{m.Household.LabourLivelihoods, m.Household.PovertyProgrammes, round}},
		{`CREATE TEMP TABLE village_children ON COMMIT DROP AS
			SELECT h.village_code, count(*) AS children,
				count(*) FILTER (WHERE k.classification = 'hazardous') AS hazardous,
				count(*) FILTER (WHERE k.classification = 'child_labour') AS child_labour,
				count(*) FILTER (WHERE k.classification = 'light_work') AS light_work,
				count(*) FILTER (WHERE k.classification = 'not_working') AS not_working
			FROM child c JOIN child_class_next k USING (household_id, ordinal) JOIN household h ON h.id = c.household_id
			WHERE c.age BETWEEN $1 AND $2 AND h.round_id = $3
			GROUP BY h.village_code`, []any{m.ChildRule.MinWorkAge, m.ChildRule.MaxChildAge, round}},
		{`DELETE FROM area_score`, nil},
	})
	if err != nil {
		return err
	}
	if err := tobaccoShares(ctx, tx); err != nil {
		return err
	}
	// The village rows and the kecamatan rates are tables of their own,
	// analysed: joined as CTEs, unanalysed, the planner guessed a few
	// hundred rows and joined 83,000 villages to 7,000 kecamatan by nested
	// loops (minutes at national size).
	err = execAll(ctx, tx, []statement{
		{`ANALYZE village_households`, nil},
		{`ANALYZE village_children`, nil},
		{`ANALYZE village_tobacco`, nil},
		{`CREATE TEMP TABLE village_base ON COMMIT DROP AS
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
			LEFT JOIN village_tobacco t ON t.code = v.code`, []any{m.Village.Institutions}},
		{`ANALYZE village_base`, nil},
		// Marshall (1991): the kecamatan rate p, the between-village
		// variance beyond binomial noise A = s2 - p / nbar, and each
		// village's rate shrunk toward p by A / (A + p / n): little data,
		// much shrinkage.
		{`CREATE TEMP TABLE kecamatan_rate ON COMMIT DROP AS
			WITH kec AS (
				SELECT kecamatan_code, sum(x)::float8 / nullif(sum(n), 0) AS p, avg(n) FILTER (WHERE n > 0) AS nbar,
					sum(n) AS total
				FROM village_base GROUP BY kecamatan_code)
			SELECT k.kecamatan_code, k.p, s.a
			FROM kec k LEFT JOIN (
				SELECT b.kecamatan_code, greatest(sum(b.n * (b.x::float8 / b.n - k.p) ^ 2) / k.total - k.p / k.nbar, 0) AS a
				FROM village_base b JOIN kec k USING (kecamatan_code) WHERE b.n > 0
				GROUP BY b.kecamatan_code, k.p, k.total, k.nbar) s USING (kecamatan_code)`, nil},
		{`ANALYZE kecamatan_rate`, nil},
		{`ANALYZE village_variety`, nil},
	})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		WITH rates AS (
			SELECT b.*, b.x::float8 / nullif(b.n, 0) AS prevalence,
				CASE WHEN b.n = 0 THEN NULL
				     WHEN k.p = 0 OR k.a + k.p / b.n = 0 THEN k.p
				     ELSE k.p + k.a / (k.a + k.p / b.n) * (b.x::float8 / b.n - k.p) END AS smoothed
			FROM village_base b JOIN kecamatan_rate k USING (kecamatan_code)),
		points AS (
			SELECT r.*,
				@w_prevalence::float8 * least(coalesce(r.smoothed, 0) / @f_prevalence, 1) AS p_prevalence,
				@w_mean::float8 * least(coalesce(r.mean_score, 0) / @f_mean, 1) AS p_mean,
				@w_tobacco::float8 * least(r.tobacco_share / @f_tobacco, 1) AS p_tobacco,
				@w_labourer::float8 * least(coalesce(r.labourer_share, 0) / @f_labourer, 1) AS p_labourer,
				@w_poverty::float8 * least(coalesce(r.poverty_share, 0) / @f_poverty, 1) AS p_poverty,
				@w_institutions::float8 * least(cardinality(r.missing)::float8 / @f_institutions, 1) AS p_institutions
			FROM rates r)
		INSERT INTO area_score (level, code, parent_code, households, children, hazardous, child_labour, light_work,
			not_working, prevalence, prevalence_smoothed, mean_household_score, max_household_score, tobacco_share,
			farm_labourer_share, poverty_share, institutions_missing, score, tier, components, monthly,
			labourer_households, poor_households)
		SELECT 'desa', p.code, p.kecamatan_code, p.households, p.n, p.hazardous, p.child_labour, p.light_work,
			p.not_working, p.prevalence, p.smoothed, p.mean_score, p.max_score, p.tobacco_share, p.labourer_share,
			p.poverty_share, p.missing, s.score,
			CASE WHEN p.households = 0 THEN 'no_data' WHEN s.score >= @tier_high THEN 'high' WHEN s.score >= @tier_medium THEN 'medium' ELSE 'low' END,
			CASE WHEN p.households > 0 THEN jsonb_build_object('prevalence', p.p_prevalence, 'mean_household_score', p.p_mean,
				'tobacco_share', p.p_tobacco, 'farm_labourer_share', p.p_labourer, 'poverty_share', p.p_poverty,
				'institutions_missing', p.p_institutions) END,
			CASE WHEN p.households > 0 THEN array(SELECT round((s.score * x)::numeric, 2)::real FROM unnest(cal.idx) x) END,
			p.labourers, p.poor
		FROM points p
		LEFT JOIN village_variety vv ON vv.village_code = p.code
		CROSS JOIN LATERAL (
			SELECT idx FROM calendar WHERE variety = vv.variety
			UNION ALL SELECT idx FROM calendar WHERE variety = @default_variety LIMIT 1) cal
		CROSS JOIN LATERAL (SELECT CASE WHEN p.households > 0 THEN (p.p_prevalence + p.p_mean + p.p_tobacco + p.p_labourer
			+ p.p_poverty + p.p_institutions)::real END AS score) s`,
		pgx.NamedArgs{
			"w_prevalence": w["prevalence"], "w_mean": w["mean_household_score"], "w_tobacco": w["tobacco_share"],
			"w_labourer": w["farm_labourer_share"], "w_poverty": w["poverty_share"], "w_institutions": w["institutions_missing"],
			"f_prevalence": f["prevalence"], "f_mean": f["mean_household_score"], "f_tobacco": f["tobacco_share"],
			"f_labourer": f["farm_labourer_share"], "f_poverty": f["poverty_share"], "f_institutions": f["institutions_missing"],
			"tier_medium": m.Tiers.Medium, "tier_high": m.Tiers.High, "default_variety": m.DefaultVariety})
	return err
}

// tobaccoShares fills village_tobacco, each village's share under tobacco
// fields (intersection areas), kept between runs in village_tobacco_kept:
// it depends only on the fields and the village boundaries, and with
// 125,000 fields it costs 9 s.
func tobaccoShares(ctx context.Context, tx pgx.Tx) error {
	var key string
	err := tx.QueryRow(ctx, `SELECT md5(
		(SELECT coalesce(string_agg(md5(id || '|' || encode(ST_AsEWKB(geom), 'hex')), ',' ORDER BY id), '') FROM plantation) || '|' ||
		(SELECT coalesce(string_agg(md5(code || '|' || encode(ST_AsEWKB(geom), 'hex')), ',' ORDER BY code), '') FROM village))`).Scan(&key)
	if err != nil {
		return err
	}
	var kept string
	if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT tobacco_key FROM proximity_state), '')`).Scan(&kept); err != nil {
		return err
	}
	if kept != key {
		err = execAll(ctx, tx, []statement{
			{`TRUNCATE village_tobacco_kept`, nil},
			{`INSERT INTO village_tobacco_kept (code, share)
				SELECT v.code, least(sum(ST_Area(ST_Intersection(p.geom, v.geom)::geography)) / max(v.area_m2), 1)
				FROM village v JOIN plantation p ON ST_Intersects(p.geom, v.geom)
				GROUP BY v.code`, nil},
			{`INSERT INTO proximity_state (key, tobacco_key) VALUES ('', $1)
				ON CONFLICT (one) DO UPDATE SET tobacco_key = excluded.tobacco_key`, []any{key}},
		})
		if err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `CREATE TEMP TABLE village_tobacco ON COMMIT DROP AS SELECT code, share FROM village_tobacco_kept`)
	return err
}
