package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// PublicationSummary is what the publication step did.
type PublicationSummary struct {
	Published, Insufficient, Withheld int // areas by status (no_data left out)
	CountsWithheld                    int // counts withheld in published areas, beyond whole areas
	AuditRounds                       int
}

// trueCounts reads every area's true counts from area_score.
func trueCounts(ctx context.Context, q pgx.Tx) ([]risk.AreaCounts, error) {
	rows, err := q.Query(ctx, `SELECT level, code, coalesce(parent_code, ''), households, children, hazardous, child_labour,
		light_work, not_working, labourer_households, poor_households FROM area_score ORDER BY level, code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	parentLevel := map[string]string{"desa": "kecamatan", "kecamatan": "kabupaten"}
	var out []risk.AreaCounts
	for rows.Next() {
		var level, code, parent string
		var n [10]int
		if err := rows.Scan(&level, &code, &parent, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7]); err != nil {
			return nil, err
		}
		a := risk.AreaCounts{Area: level + ":" + code, Leaf: level == "desa", Counts: map[string]int{}}
		if pl, ok := parentLevel[level]; ok && parent != "" {
			a.Parent = pl + ":" + parent
		}
		for i, m := range []string{"households", "children", "hazardous", "child_labour", "light_work", "not_working",
			"labourer_households", "poor_households"} {
			a.Counts[m] = n[i]
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// publish builds area_public, the only table of area figures the public and
// planners are served. The counts come from risk.Publish (minimum sample,
// rounding, an audit of the whole table); every other figure is computed
// here from those published counts, or rounded from a magnitude of a
// published area, so nothing published carries more than the counts do:
// a score is the sum of its published components, a rate the ratio of
// published counts, a kecamatan's score the mean of its villages'
// published scores.
func publish(ctx context.Context, tx pgx.Tx, m *risk.Model, sum *PublicationSummary) error {
	areas, err := trueCounts(ctx, tx)
	if err != nil {
		return err
	}
	pub, rounds, err := risk.Publish(areas, m.Publication)
	if err != nil {
		return err
	}
	sum.AuditRounds = rounds
	measures := risk.CountMeasures
	var levels, codes []string
	var eligible []bool
	cols := make([][]*int32, len(measures))
	for _, a := range areas {
		level, code, _ := strings.Cut(a.Area, ":")
		p := pub[a.Area]
		levels, codes, eligible = append(levels, level), append(codes, code), append(eligible, p.Eligible)
		for i, ms := range measures {
			var v *int32
			if x := p.Values[ms]; x != nil {
				y := int32(*x)
				v = &y
			}
			cols[i] = append(cols[i], v)
			if p.Eligible && v == nil {
				sum.CountsWithheld++
			}
		}
	}
	// measures: children, hazardous, child_labour, light_work, not_working, households, labourer_households, poor_households
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE pub_counts ON COMMIT DROP AS
		SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::int[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[], $10::int[], $11::int[])
			AS u(level, code, eligible, children, hazardous, child_labour, light_work, not_working, households, labourer_households, poor_households)`,
		levels, codes, eligible, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7]); err != nil {
		return err
	}
	pr, w, f := m.Publication, m.Village.Weights, m.Village.FullAt
	err = execAll(ctx, tx, []statement{
		{`DELETE FROM area_public`, nil},
		{`CREATE INDEX ON pub_counts (level, code)`, nil},
		// Villages. Smoothing (Marshall's empirical Bayes, as in scoring)
		// runs on published counts only, toward the kecamatan's published
		// rate; shares are ratios of published counts; the mean household
		// score of a published village is rounded to score_step.
		{`WITH v AS (
			SELECT a.code, a.parent_code, c.eligible, c.households, c.children, c.hazardous, c.child_labour, c.light_work,
				c.not_working, c.labourer_households, c.poor_households, a.households AS surveyed,
				(c.hazardous + c.child_labour) AS x, c.children AS n,
				CASE WHEN c.eligible THEN round(a.mean_household_score / $1) * $1 END AS mean_score,
				a.tobacco_share, a.institutions_missing
			FROM area_score a JOIN pub_counts c ON c.level = 'desa' AND c.code = a.code
			WHERE a.level = 'desa'),
		-- the prior: the rate over the kecamatan's villages with published
		-- counts (published counts only, so smoothing adds nothing to them)
		kec AS (
			SELECT v.parent_code AS code, sum(v.x)::float8 / nullif(sum(v.n), 0) AS p
			FROM v WHERE v.x IS NOT NULL AND v.n > 0 GROUP BY v.parent_code),
		spread AS (
			SELECT v.parent_code, greatest(sum(v.n * (v.x::float8 / v.n - k.p) ^ 2) / sum(v.n)
				- k.p / avg(v.n), 0) AS a
			FROM v JOIN kec k ON k.code = v.parent_code
			WHERE v.n > 0 AND v.x IS NOT NULL AND k.p IS NOT NULL
			GROUP BY v.parent_code, k.p),
		rates AS (
			SELECT v.*, v.x::float8 / nullif(v.n, 0) AS prevalence,
				CASE WHEN v.x IS NULL OR coalesce(v.n, 0) = 0 THEN NULL
				     WHEN k.p IS NULL THEN v.x::float8 / v.n
				     WHEN k.p = 0 OR coalesce(s.a, 0) + k.p / v.n = 0 THEN k.p
				     ELSE k.p + coalesce(s.a, 0) / (coalesce(s.a, 0) + k.p / v.n) * (v.x::float8 / v.n - k.p) END AS smoothed,
				v.labourer_households::float8 / nullif(v.households, 0) AS labourer_share,
				v.poor_households::float8 / nullif(v.households, 0) AS poverty_share
			FROM v LEFT JOIN kec k ON k.code = v.parent_code LEFT JOIN spread s ON s.parent_code = v.parent_code),
		points AS (
			SELECT r.*,
				round(($2 * least(r.smoothed / $8, 1))::numeric, 1) AS p_prevalence,
				round(($3 * least(r.mean_score / $9, 1))::numeric, 1) AS p_mean,
				round(($4 * least(r.tobacco_share / $10, 1))::numeric, 1) AS p_tobacco,
				round(($5 * least(r.labourer_share / $11, 1))::numeric, 1) AS p_labourer,
				round(($6 * least(r.poverty_share / $12, 1))::numeric, 1) AS p_poverty,
				round(($7 * least(cardinality(r.institutions_missing)::float8 / $13, 1))::numeric, 1) AS p_institutions
			FROM rates r),
		scored AS (
			SELECT p.*, CASE WHEN p.eligible THEN p.p_prevalence + p.p_mean + p.p_tobacco + p.p_labourer + p.p_poverty + p.p_institutions END AS score
			FROM points p)
		INSERT INTO area_public (level, code, parent_code, status, households, children, hazardous, child_labour, light_work,
			not_working, labourer_households, poor_households, prevalence, prevalence_smoothed, mean_household_score,
			tobacco_share, farm_labourer_share, poverty_share, institutions_missing, score, tier, components, monthly, suppressed)
		SELECT 'desa', s.code, s.parent_code,
			CASE WHEN s.surveyed = 0 THEN 'no_data' WHEN NOT s.eligible THEN 'insufficient_data'
			     WHEN s.score IS NULL THEN 'withheld' ELSE 'published' END,
			s.households, s.children, s.hazardous, s.child_labour, s.light_work, s.not_working, s.labourer_households,
			s.poor_households, s.prevalence, s.smoothed, s.mean_score, s.tobacco_share, s.labourer_share, s.poverty_share,
			s.institutions_missing, s.score,
			CASE WHEN s.surveyed = 0 THEN 'no_data' WHEN NOT s.eligible THEN 'insufficient_data' WHEN s.score IS NULL THEN 'withheld'
			     WHEN s.score >= $15 THEN 'high' WHEN s.score >= $14 THEN 'medium' ELSE 'low' END,
			CASE WHEN s.score IS NOT NULL THEN jsonb_build_object('prevalence', s.p_prevalence, 'mean_household_score', s.p_mean,
				'tobacco_share', s.p_tobacco, 'farm_labourer_share', s.p_labourer, 'poverty_share', s.p_poverty,
				'institutions_missing', s.p_institutions) END,
			CASE WHEN s.score IS NOT NULL THEN array(SELECT round(s.score * x::numeric, 2)::real FROM unnest(cal.idx) x) END,
			` + withheldList + `
		FROM scored s
		LEFT JOIN village_variety vv ON vv.village_code = s.code
		CROSS JOIN LATERAL (
			SELECT idx FROM calendar WHERE variety = vv.variety
			UNION ALL SELECT idx FROM calendar WHERE variety = $16 LIMIT 1) cal`,
			[]any{pr.ScoreStep, w["prevalence"], w["mean_household_score"], w["tobacco_share"], w["farm_labourer_share"],
				w["poverty_share"], w["institutions_missing"], f["prevalence"], f["mean_household_score"], f["tobacco_share"],
				f["farm_labourer_share"], f["poverty_share"], f["institutions_missing"], m.Tiers.Medium, m.Tiers.High, m.DefaultVariety}},
		// Kecamatan and kabupaten: their own published counts and ratios of
		// them; the score, mean household score and seasonal curve are the
		// means of their published villages' (weighted by published
		// households), so they add nothing the villages do not show.
		{`WITH up AS (
			SELECT a.level, a.code, a.parent_code, a.households AS surveyed, c.eligible, c.households, c.children,
				c.hazardous, c.child_labour, c.light_work, c.not_working, c.labourer_households, c.poor_households, a.tobacco_share,
				(SELECT sum(v.score * v.households) / nullif(sum(v.households), 0) FROM area_public v
				 WHERE v.level = 'desa' AND v.score IS NOT NULL AND (v.parent_code = a.code OR left(v.parent_code, 5) = a.code)) AS score,
				(SELECT sum(v.mean_household_score * v.households) / nullif(sum(v.households), 0) FROM area_public v
				 WHERE v.level = 'desa' AND v.score IS NOT NULL AND (v.parent_code = a.code OR left(v.parent_code, 5) = a.code)) AS mean_score,
				(SELECT array_agg(x ORDER BY i) FROM (
					SELECT i, round((sum(x * v.households) / nullif(sum(v.households), 0))::numeric, 2)::real AS x
					FROM area_public v, unnest(v.monthly) WITH ORDINALITY u(x, i)
					WHERE v.level = 'desa' AND v.score IS NOT NULL AND (v.parent_code = a.code OR left(v.parent_code, 5) = a.code)
					GROUP BY i) mm) AS monthly
			FROM area_score a JOIN pub_counts c ON c.level = a.level AND c.code = a.code
			WHERE a.level IN ('kecamatan', 'kabupaten'))
		INSERT INTO area_public (level, code, parent_code, status, households, children, hazardous, child_labour, light_work,
			not_working, labourer_households, poor_households, prevalence, mean_household_score, tobacco_share,
			farm_labourer_share, poverty_share, score, tier, monthly, suppressed)
		SELECT s.level, s.code, s.parent_code,
			CASE WHEN s.surveyed = 0 THEN 'no_data' WHEN NOT s.eligible THEN 'insufficient_data' ELSE 'published' END,
			s.households, s.children, s.hazardous, s.child_labour, s.light_work, s.not_working, s.labourer_households,
			s.poor_households, (s.hazardous + s.child_labour)::float8 / nullif(s.children, 0),
			round(s.mean_score::numeric, 1), s.tobacco_share,
			s.labourer_households::float8 / nullif(s.households, 0), s.poor_households::float8 / nullif(s.households, 0),
			round(s.score::numeric, 2),
			CASE WHEN s.surveyed = 0 THEN 'no_data' WHEN s.score IS NULL THEN 'insufficient_data'
			     WHEN s.score >= $2 THEN 'high' WHEN s.score >= $1 THEN 'medium' ELSE 'low' END,
			s.monthly, ` + withheldList + `
		FROM up s`, []any{m.Tiers.Medium, m.Tiers.High}},
	})
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT status, count(*) FROM area_public GROUP BY status`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return err
		}
		switch st {
		case "published":
			sum.Published = n
		case "insufficient_data":
			sum.Insufficient = n
		case "withheld":
			sum.Withheld = n
		}
	}
	return rows.Err()
}

// withheldList is the SQL list of an area's withheld counts (alias s).
var withheldList = `array_remove(array[` + func() string {
	var parts []string
	for _, m := range risk.CountMeasures {
		parts = append(parts, fmt.Sprintf("CASE WHEN s.%s IS NULL THEN '%s' END", m, m))
	}
	return strings.Join(parts, ", ")
}() + `], NULL)`

// maskHouseholds keeps household_mask up to date: for each household, a
// point moved 100-500 m in a direction drawn from HMAC-SHA256(survey uuid,
// mask_secret), inside the household's own village (the first of up to 32
// draws that lands there; none: no point), and an id that is another HMAC
// of the uuid. The secret never leaves the database, so a survey uuid (in a
// KoBo export, a staff CSV) cannot undo the displacement; the same secret
// gives the same point on every run, so runs cannot be averaged. A point is
// drawn again only when its household, point, village or the secret
// changes (digest); then only households of villages whose household count
// is published are marked shown.
func maskHouseholds(ctx context.Context, tx pgx.Tx) error {
	err := execAll(ctx, tx, []statement{
		{`CREATE TEMP TABLE mask_src ON COMMIT DROP AS
			SELECT h.id, h.survey_uuid, h.village_code, h.geom,
				md5(encode(s.secret, 'hex') || '|' || h.survey_uuid || '|' || h.village_code || '|' || encode(ST_AsEWKB(h.geom), 'hex')) AS digest
			FROM household h, mask_secret s`, nil},
		{`CREATE INDEX ON mask_src (id)`, nil},
		{`DELETE FROM household_mask m WHERE NOT EXISTS (
			SELECT 1 FROM mask_src s WHERE s.id = m.household_id AND s.digest = m.digest)`, nil},
		{`CREATE TEMP TABLE mask_todo ON COMMIT DROP AS
			SELECT s.*, a.households IS NOT NULL AS published
			FROM mask_src s LEFT JOIN area_public a ON a.level = 'desa' AND a.code = s.village_code
			WHERE NOT EXISTS (SELECT 1 FROM household_mask m WHERE m.household_id = s.id)
			ORDER BY s.village_code`, nil},
		{`CREATE INDEX ON mask_todo (id)`, nil},
	})
	if err != nil {
		return err
	}
	var todo, kept int
	if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM mask_todo), (SELECT count(*) FROM household_mask)`).Scan(&todo, &kept); err != nil {
		return err
	}
	// Many new points (the first run, a new secret) go into a new table,
	// indexed once and swapped in: a million rows through the indexes one by
	// one cost ten times as much. A few go straight in.
	target := "household_mask"
	if todo > 50000 && todo > kept {
		target = "household_mask_next"
		if err := execAll(ctx, tx, []statement{
			{`CREATE TABLE household_mask_next (LIKE household_mask INCLUDING DEFAULTS)`, nil},
			{`INSERT INTO household_mask_next SELECT * FROM household_mask`, nil},
		}); err != nil {
			return err
		}
	}
	for k := 0; k < 32 && todo > 0; k++ {
		// The keyed hash is computed once per household (MATERIALIZED:
		// inlined, PostgreSQL would recompute it for every byte read), and
		// the displacement is a local metric offset (metres per degree at the
		// point's latitude), within centimetres of the geodesic at 500 m.
		tag, err := tx.Exec(ctx, `
			WITH d AS MATERIALIZED (
				SELECT t.id, t.survey_uuid, t.village_code, t.geom, t.digest, t.published,
					hmac(convert_to(t.survey_uuid || ':' || @draw::int, 'UTF8'), s.secret, 'sha256') AS h
				FROM mask_todo t, mask_secret s),
			r AS MATERIALIZED (
				SELECT d.id, d.survey_uuid, d.village_code, d.geom, d.digest, d.published, radians(ST_Y(d.geom)) AS lat,
					sqrt(@min::float8 ^ 2 + (@max::float8 ^ 2 - @min::float8 ^ 2) * ('x' || encode(substr(d.h, 1, 4), 'hex'))::bit(32)::bigint / 4294967296.0) AS dist,
					2 * pi() * ('x' || encode(substr(d.h, 5, 4), 'hex'))::bit(32)::bigint / 4294967296.0 AS az
				FROM d),
			p AS MATERIALIZED (
				SELECT r.id, r.survey_uuid, r.village_code, r.digest, r.published, ST_Translate(r.geom,
					r.dist * sin(r.az) / (111412.84 * cos(r.lat) - 93.5 * cos(3 * r.lat)),
					r.dist * cos(r.az) / (111132.92 - 559.82 * cos(2 * r.lat) + 1.175 * cos(4 * r.lat))) AS g
				FROM r),
			ok AS (
				INSERT INTO `+target+` (household_id, mask_id, village_code, geom, digest, shown)
				SELECT p.id, encode(substr(hmac(convert_to('id:' || p.survey_uuid, 'UTF8'), s.secret, 'sha256'), 1, 16), 'hex'),
					p.village_code, p.g, p.digest, p.published
				FROM p JOIN village v ON v.code = p.village_code, mask_secret s
				WHERE ST_Covers(v.geom, p.g)
				RETURNING household_id)
			DELETE FROM mask_todo t USING ok WHERE t.id = ok.household_id`,
			pgx.NamedArgs{"draw": k, "min": MaskMinMetres, "max": MaskMaxMetres})
		if err != nil {
			return err
		}
		todo -= int(tag.RowsAffected())
	}
	// Households no draw placed inside their village get no point (and are
	// not retried every run): left out of the planners' layer rather than
	// placed outside their village.
	stmts := []statement{{`INSERT INTO ` + target + ` (household_id, mask_id, village_code, geom, digest)
		SELECT t.id, encode(substr(hmac(convert_to('id:' || t.survey_uuid, 'UTF8'), s.secret, 'sha256'), 1, 16), 'hex'),
			t.village_code, NULL, t.digest
		FROM mask_todo t, mask_secret s`, nil}}
	if target != "household_mask" {
		stmts = append(stmts,
			statement{`DROP TABLE household_mask`, nil},
			statement{`ALTER TABLE household_mask_next RENAME TO household_mask`, nil},
			statement{`ALTER TABLE household_mask ADD PRIMARY KEY (household_id), ADD UNIQUE (mask_id),
				ALTER COLUMN mask_id SET NOT NULL, ALTER COLUMN village_code SET NOT NULL, ALTER COLUMN digest SET NOT NULL`, nil},
			statement{`DO $$ BEGIN
				IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
					GRANT SELECT ON household_mask TO riskmap_serve;
				END IF; END $$`, nil})
	}
	stmts = append(stmts, statement{`UPDATE household_mask m SET shown = x.want
		FROM (SELECT m.household_id, m.geom IS NOT NULL AND a.households IS NOT NULL AS want
		      FROM household_mask m LEFT JOIN area_public a ON a.level = 'desa' AND a.code = m.village_code) x
		WHERE x.household_id = m.household_id AND m.shown IS DISTINCT FROM x.want`, nil})
	if target != "household_mask" {
		stmts = append(stmts,
			statement{`CREATE INDEX household_mask_geom_idx ON household_mask USING gist (geom) WHERE shown`, nil},
			statement{`CREATE INDEX household_mask_village_idx ON household_mask (village_code) WHERE shown`, nil},
			statement{`ANALYZE household_mask`, nil})
	}
	return execAll(ctx, tx, stmts)
}

// checkPublication runs the disclosure check inside the scoring
// transaction: a publication that fails it is never committed.
func checkPublication(ctx context.Context, tx pgx.Tx, m *risk.Model) error {
	problems, err := disclosureCheck(ctx, tx, m.Publication)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("the publication fails the disclosure check (%d problems), first: %s", len(problems), problems[0])
	}
	return nil
}

// DisclosureCheck audits what the public and planners are served now, from
// the tables they are served from, against the true counts: every count's
// interval under the rule, planners' household points per village against
// the published counts, and every derived figure against the published
// counts it must come from. It returns one line per problem.
func (db *DB) DisclosureCheck(ctx context.Context, rule risk.PublicationRule) ([]string, error) {
	var out []string
	err := pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		out, err = disclosureCheck(ctx, tx, rule)
		return err
	})
	return out, err
}

func disclosureCheck(ctx context.Context, tx pgx.Tx, rule risk.PublicationRule) ([]string, error) {
	areas, err := trueCounts(ctx, tx)
	if err != nil {
		return nil, err
	}
	pub := map[string]risk.PublishedArea{}
	rows, err := tx.Query(ctx, `SELECT level || ':' || code, status <> 'insufficient_data' AND status <> 'no_data',
		children, hazardous, child_labour, light_work, not_working, households, labourer_households, poor_households
		FROM area_public`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var area string
		var p risk.PublishedArea
		v := make([]*int, 8)
		if err := rows.Scan(&area, &p.Eligible, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]); err != nil {
			rows.Close()
			return nil, err
		}
		p.Values = map[string]*int{}
		for i, ms := range risk.CountMeasures {
			p.Values[ms] = v[i]
		}
		pub[area] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var problems []string
	for _, a := range areas {
		if _, ok := pub[a.Area]; !ok {
			problems = append(problems, fmt.Sprintf("%s: scored but missing from area_public", a.Area))
			pub[a.Area] = risk.PublishedArea{Values: map[string]*int{}}
		}
		for ms, v := range pub[a.Area].Values {
			if v != nil && *v%max(rule.RoundingBase, 1) != 0 {
				problems = append(problems, fmt.Sprintf("%s %s: published %d is not a multiple of %d", a.Area, ms, *v, rule.RoundingBase))
			}
			if v != nil && (a.Counts["households"] < rule.MinHouseholds || a.Counts["children"] < rule.MinChildren) {
				problems = append(problems, fmt.Sprintf("%s %s: published although under the minimum sample", a.Area, ms))
			}
			if v != nil && *v != risk.RoundCount(a.Counts[ms], rule.RoundingBase) {
				problems = append(problems, fmt.Sprintf("%s %s: published %d is not the true count rounded to %d", a.Area, ms, *v, rule.RoundingBase))
			}
		}
	}
	// The interval audit assumes the published counts are the rounded true
	// ones; with any that are not, the problems above come first.
	if len(problems) == 0 {
		findings, err := risk.Audit(areas, pub, rule)
		if err != nil {
			return nil, err
		}
		for _, f := range findings {
			problems = append(problems, f.String())
		}
	}
	// Planners count masked points: only villages whose household count is
	// published may have any, and then all of them (the audit assumes
	// planners know those counts exactly, and nothing else).
	rows, err = tx.Query(ctx, `
		SELECT a.code, a.households IS NOT NULL, s.households, coalesce(m.n, 0)
		FROM area_public a JOIN area_score s USING (level, code)
		LEFT JOIN (SELECT village_code, count(*) AS n FROM household_mask WHERE shown GROUP BY village_code) m ON m.village_code = a.code
		WHERE a.level = 'desa' AND (m.n > 0 OR a.households IS NOT NULL)`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var code string
		var published bool
		var truth, masked int
		if err := rows.Scan(&code, &published, &truth, &masked); err != nil {
			rows.Close()
			return nil, err
		}
		if !published && masked > 0 {
			problems = append(problems, fmt.Sprintf("desa:%s: %d masked households shown while its household count is withheld", code, masked))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Derived figures must be functions of the published counts.
	rows, err = tx.Query(ctx, `
		SELECT level || ':' || code, problem FROM area_public a CROSS JOIN LATERAL (VALUES
			(CASE WHEN a.score IS NOT NULL AND a.components IS NOT NULL AND abs(a.score -
				(SELECT sum(value::float8) FROM jsonb_each_text(a.components))) > 1e-3 THEN 'score is not the sum of its components' END),
			(CASE WHEN a.prevalence IS NOT NULL AND (a.children IS NULL OR a.hazardous IS NULL OR a.child_labour IS NULL
				OR abs(a.prevalence - (a.hazardous + a.child_labour)::float8 / a.children) > 1e-6) THEN 'prevalence is not a ratio of published counts' END),
			(CASE WHEN a.farm_labourer_share IS NOT NULL AND (a.households IS NULL OR a.labourer_households IS NULL
				OR abs(a.farm_labourer_share - a.labourer_households::float8 / a.households) > 1e-6) THEN 'farm_labourer_share is not a ratio of published counts' END),
			(CASE WHEN a.poverty_share IS NOT NULL AND (a.households IS NULL OR a.poor_households IS NULL
				OR abs(a.poverty_share - a.poor_households::float8 / a.households) > 1e-6) THEN 'poverty_share is not a ratio of published counts' END),
			(CASE WHEN a.status IN ('insufficient_data', 'no_data') AND (a.score IS NOT NULL OR a.mean_household_score IS NOT NULL
				OR a.components IS NOT NULL) THEN 'figures published for an area under the minimum sample' END)) x(problem)
		WHERE problem IS NOT NULL ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var area, p string
		if err := rows.Scan(&area, &p); err != nil {
			rows.Close()
			return nil, err
		}
		problems = append(problems, area+": "+p)
	}
	rows.Close()
	return problems, rows.Err()
}

// LatestModel returns the model of the latest scoring run.
func (db *DB) LatestModel(ctx context.Context) (*risk.Model, error) {
	var b []byte
	err := db.Pool.QueryRow(ctx, `SELECT model FROM score_run ORDER BY id DESC LIMIT 1`).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, risk.Errorf(risk.ENOTFOUND, "nothing is published yet: run riskmap score first")
	}
	if err != nil {
		return nil, wrapDB(err)
	}
	return risk.ParseModel(b, "the latest scoring run's model")
}
