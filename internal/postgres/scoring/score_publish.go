package scoring

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/postgres/catalog"
	"github.com/kesempatan/riskmap/internal/postgres/core"
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
	parentLevel := map[string]string{risk.LevelDesa: risk.LevelKecamatan, risk.LevelKecamatan: risk.LevelKabupaten}
	var out []risk.AreaCounts
	for rows.Next() {
		var level, code, parent string
		var n [10]int
		if err := rows.Scan(&level, &code, &parent, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7]); err != nil {
			return nil, err
		}
		a := risk.AreaCounts{Area: risk.AreaID(level, code), Leaf: level == risk.LevelDesa, Counts: map[string]int{}}
		if pl, ok := parentLevel[level]; ok && parent != "" {
			a.Parent = risk.AreaID(pl, parent)
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
// rounding, an audit of the whole table); every other figure comes from
// risk.PublishFigures, from those published counts and facts that are not
// survey answers: nothing published carries more than the counts do.
func publish(ctx context.Context, tx pgx.Tx, m *risk.Model, sum *PublicationSummary, shown *publication) error {
	truth, err := trueCounts(ctx, tx)
	if err != nil {
		return err
	}
	round, err := shownRound(ctx, tx)
	if err != nil {
		return err
	}
	// The public and planners see the round's bases (release.go); staff's
	// exact estimates come from the data as it is now.
	b, err := readBasis(ctx, tx, m, round)
	if err != nil {
		return err
	}
	areas := b.areas
	pub, rounds, err := risk.Publish(areas, m.Publication)
	if err != nil {
		return err
	}
	shown.areas, shown.pub, shown.basis = areas, pub, b
	sum.AuditRounds = rounds
	in, within, err := publicationInputs(ctx, tx, m, truth, "household_score_next", nil)
	if err != nil {
		return err
	}
	if err := storeEstimates(ctx, tx, truth, in, m, within); err != nil {
		return err
	}
	// The public's inputs: the same facts, with the bases' mean scores and
	// coverage.
	in = b.inputs(in)
	figs := risk.PublishFigures(areas, pub, in, m, b.within, risk.Published)
	b.figures(figs)
	var (
		levels, codes, parents, statuses, tiers, priors []string
		counts                                          = make([][]*int32, len(risk.CountMeasures))
		floats                                          = make([][]*float64, 13)
		comps                                           []*string
		monthly, quality, suppressed                    []string
		villages, surveyed, published                   []*int32
	)
	i32 := func(v int, ok bool) *int32 {
		if !ok {
			return nil
		}
		x := int32(v)
		return &x
	}
	for _, a := range areas {
		level, code, _ := risk.SplitAreaID(a.Area)
		p, f, ai := pub[a.Area], figs[a.Area], in[a.Area]
		_, parent, _ := risk.SplitAreaID(a.Parent)
		levels, codes, parents = append(levels, level), append(codes, code), append(parents, parent)
		statuses, tiers, priors = append(statuses, f.Status), append(tiers, f.Tier), append(priors, f.Prior)
		var withheld []string
		for k, ms := range risk.CountMeasures {
			v := p.Values[ms]
			if v == nil {
				withheld = append(withheld, ms)
				if p.Eligible {
					sum.CountsWithheld++
				}
				counts[k] = append(counts[k], nil)
			} else {
				counts[k] = append(counts[k], i32(*v, true))
			}
		}
		for k, x := range []*float64{f.Prevalence, f.PrevalenceLo, f.PrevalenceHi, f.Smoothed, f.SmoothedLo, f.SmoothedHi,
			f.MeanScore, ai.TobaccoShare, f.LabourerShare, f.PovertyShare, f.Score, f.ScoreLo, f.ScoreHi} {
			floats[k] = append(floats[k], x)
		}
		var c *string
		if f.Components != nil {
			b, err := json.Marshal(f.Components)
			if err != nil {
				return err
			}
			cs := string(b)
			c = &cs
		}
		comps = append(comps, c)
		mb, _ := json.Marshal(f.Monthly)
		qb, _ := json.Marshal(append([]string{}, f.DataQuality...))
		wb, _ := json.Marshal(append([]string{}, withheld...))
		monthly, quality, suppressed = append(monthly, string(mb)), append(quality, string(qb)), append(suppressed, string(wb))
		isParent := level != "desa"
		villages = append(villages, i32(ai.Villages, isParent))
		surveyed = append(surveyed, i32(ai.SurveyedVillages, isParent))
		published = append(published, i32(f.PublishedVillages, isParent))
		switch f.Status {
		case "published":
			if level == "desa" || f.Score != nil {
				sum.Published++
			}
		case "insufficient_data":
			sum.Insufficient++
		case "withheld":
			sum.Withheld++
		}
	}
	args := pgx.NamedArgs{"level": levels, "code": codes, "parent": parents, "status": statuses, "tier": tiers, "prior": priors,
		"components": comps, "monthly": monthly, "quality": quality, "suppressed": suppressed,
		"villages": villages, "surveyed": surveyed, "published": published}
	for k, ms := range risk.CountMeasures {
		args[ms] = counts[k]
	}
	for k, name := range []string{"prevalence", "prevalence_lo", "prevalence_hi", "smoothed", "smoothed_lo", "smoothed_hi",
		"mean_score", "tobacco_share", "labourer_share", "poverty_share", "score", "score_lo", "score_hi"} {
		args[name] = floats[k]
	}
	if _, err := tx.Exec(ctx, `DELETE FROM area_public`); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO area_public (level, code, parent_code, status, households, children, hazardous, child_labour, light_work,
			not_working, labourer_households, poor_households, prevalence, prevalence_lo, prevalence_hi, prevalence_smoothed,
			prevalence_smoothed_lo, prevalence_smoothed_hi, mean_household_score, tobacco_share, farm_labourer_share,
			poverty_share, institutions_missing, score, score_lo, score_hi, tier, components, monthly, prior, data_quality,
			villages, surveyed_villages, published_villages, suppressed)
		SELECT u.level, u.code, nullif(u.parent, ''), u.status, u.households, u.children, u.hazardous, u.child_labour,
			u.light_work, u.not_working, u.labourer_households, u.poor_households, u.prevalence, u.prevalence_lo,
			u.prevalence_hi, u.smoothed, u.smoothed_lo, u.smoothed_hi, u.mean_score, u.tobacco_share, u.labourer_share,
			u.poverty_share, s.institutions_missing, u.score, u.score_lo, u.score_hi, u.tier, u.components::jsonb,
			CASE WHEN u.monthly = 'null' THEN NULL ELSE array(SELECT jsonb_array_elements_text(u.monthly::jsonb)::real) END,
			nullif(u.prior, ''), array(SELECT jsonb_array_elements_text(u.quality::jsonb)),
			u.villages, u.surveyed, u.published, array(SELECT jsonb_array_elements_text(u.suppressed::jsonb))
		FROM unnest(@level::text[], @code::text[], @parent::text[], @status::text[], @households::int[], @children::int[],
			@hazardous::int[], @child_labour::int[], @light_work::int[], @not_working::int[], @labourer_households::int[],
			@poor_households::int[], @prevalence::float8[], @prevalence_lo::float8[], @prevalence_hi::float8[],
			@smoothed::float8[], @smoothed_lo::float8[], @smoothed_hi::float8[], @mean_score::float8[],
			@tobacco_share::float8[], @labourer_share::float8[], @poverty_share::float8[], @score::float8[],
			@score_lo::float8[], @score_hi::float8[], @tier::text[], @components::text[], @monthly::text[], @prior::text[],
			@quality::text[], @villages::int[], @surveyed::int[], @published::int[], @suppressed::text[])
			AS u(level, code, parent, status, households, children, hazardous, child_labour, light_work, not_working,
				labourer_households, poor_households, prevalence, prevalence_lo, prevalence_hi, smoothed, smoothed_lo,
				smoothed_hi, mean_score, tobacco_share, labourer_share, poverty_share, score, score_lo, score_hi, tier,
				components, monthly, prior, quality, villages, surveyed, published, suppressed)
		JOIN area_score s ON s.level = u.level AND s.code = u.code`, args)
	return err
}

// publicationInputs reads what the publication knows of each area besides
// its counts, and the pooled variance of household scores inside villages.
//
// scores is the table of household scores to read: household_score, or
// household_score_next inside a scoring run.
// known, when not nil, is the within-village variance computed already
// (the run's disclosure check reuses the publication's).
func publicationInputs(ctx context.Context, tx pgx.Tx, m *risk.Model, areas []risk.AreaCounts, scores string, known *float64) (map[string]risk.AreaInput, float64, error) {
	if scores != "household_score" && scores != "household_score_next" {
		return nil, 0, fmt.Errorf("publication inputs: unknown scores table %q", scores)
	}
	in := map[string]risk.AreaInput{}
	cal := map[string][]float64{}
	rows, err := tx.Query(ctx, `SELECT variety, labour_index FROM score_calendar`)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var v string
		var idx []float64
		if err := rows.Scan(&v, &idx); err != nil {
			rows.Close()
			return nil, 0, err
		}
		cal[v] = idx
	}
	rows.Close()
	vv, err := villageVarieties(ctx, tx, m)
	if err != nil {
		return nil, 0, err
	}
	var anyFields bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM plantation)`).Scan(&anyFields); err != nil {
		return nil, 0, err
	}
	rows, err = tx.Query(ctx, `
		SELECT a.level || ':' || a.code, a.level, coalesce(v.kecamatan_code, k.code, ''), coalesce(v.kabupaten_code, k.kabupaten_code, a.code),
			round(a.mean_household_score / @step) * @step, a.tobacco_share, coalesce(cardinality(a.institutions_missing), 0)
		FROM area_score a
		LEFT JOIN village v ON a.level = 'desa' AND v.code = a.code
		LEFT JOIN kecamatan k ON a.level = 'kecamatan' AND k.code = a.code`,
		pgx.NamedArgs{"step": m.Publication.ScoreStep})
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var area, level, kec, kab string
		var mean, share *float64
		var missing int
		if err := rows.Scan(&area, &level, &kec, &kab, &mean, &share, &missing); err != nil {
			rows.Close()
			return nil, 0, err
		}
		ai := risk.AreaInput{Level: level, Kecamatan: kec, Kabupaten: kab, MeanScore: mean, InstitutionsMissing: missing}
		if anyFields {
			ai.TobaccoShare = share
		}
		_, code, _ := risk.SplitAreaID(area)
		v, ok := vv[code]
		if !ok {
			v = m.VarietyOf(code)
		}
		if ai.Calendar = cal[v]; ai.Calendar == nil {
			ai.Calendar = cal[m.DefaultVariety]
		}
		in[area] = ai
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	coverage(in, areas)
	if known != nil {
		return in, *known, nil
	}
	var within *float64
	round, err := shownRound(ctx, tx)
	if err != nil {
		return nil, 0, err
	}
	var rounds int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM survey_round r WHERE EXISTS (SELECT 1 FROM household h WHERE h.round_id = r.id)`).Scan(&rounds); err != nil {
		return nil, 0, err
	}
	// The shown round's households; with one round, all (no join).
	src := `(SELECT s.* FROM ` + scores + ` s JOIN household h ON h.id = s.household_id WHERE h.round_id = $1)`
	if rounds <= 1 {
		src = `(SELECT s.* FROM ` + scores + ` s WHERE $1::text IS NOT NULL)`
	}
	err = tx.QueryRow(ctx, `
		SELECT sum((s.score - v.mean) ^ 2) / nullif(count(*) - count(DISTINCT s.village_code), 0)
		FROM `+src+` s
		JOIN (SELECT village_code, avg(score) AS mean FROM `+src+` s GROUP BY village_code) v USING (village_code)`, round).Scan(&within)
	if err != nil {
		return nil, 0, err
	}
	w := 0.0
	if within != nil {
		w = *within
	}
	return in, w, nil
}

// coverage sets in every parent of areas how many villages it has, and how
// many of them have surveyed households in areas' counts.
func coverage(in map[string]risk.AreaInput, areas []risk.AreaCounts) {
	parentOf := make(map[string]string, len(areas))
	for _, a := range areas {
		parentOf[a.Area] = a.Parent
		if !a.Leaf {
			ai := in[a.Area]
			ai.Villages, ai.SurveyedVillages = 0, 0
			in[a.Area] = ai
		}
	}
	for _, a := range areas {
		if !a.Leaf {
			continue
		}
		for p := a.Parent; p != ""; p = parentOf[p] {
			ai := in[p]
			ai.Villages++
			if a.Counts["households"] > 0 {
				ai.SurveyedVillages++
			}
			in[p] = ai
		}
	}
}

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
	round, err := shownRound(ctx, tx)
	if err != nil {
		return err
	}
	err = execAll(ctx, tx, []statement{
		{`CREATE TEMP TABLE mask_src ON COMMIT DROP AS
			SELECT h.id, h.survey_uuid, h.village_code, h.geom,
				md5(encode(s.secret, 'hex') || '|' || h.survey_uuid || '|' || h.village_code || '|' || encode(ST_AsEWKB(h.geom), 'hex')) AS digest
			FROM household h, mask_secret s WHERE h.round_id = $1`, []any{round}},
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
		// The point is kept as served (6 decimals, through the same
		// ST_AsGeoJSON), so the point tested inside the village is exactly
		// the one a client reads back: a point drawn within 5 cm of the
		// boundary cannot be rounded out of its village.
		// Each draw writes a new table of candidates and carries only the
		// households it did not place to the next (deleting them would leave
		// every later draw scanning a million dead rows).
		err := execAll(ctx, tx, []statement{
			{`CREATE TEMP TABLE mask_draw ON COMMIT DROP AS
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
				SELECT r.id, r.survey_uuid, r.village_code, r.geom, r.digest, r.published,
					ST_SetSRID(ST_GeomFromGeoJSON(ST_AsGeoJSON(ST_Translate(r.geom,
					r.dist * sin(r.az) / (111412.84 * cos(r.lat) - 93.5 * cos(3 * r.lat)),
					r.dist * cos(r.az) / (111132.92 - 559.82 * cos(2 * r.lat) + 1.175 * cos(4 * r.lat))), 6)), 4326) AS g
				FROM r)
			SELECT p.*, ST_Covers(v.geom, p.g) AS inside FROM p JOIN village v ON v.code = p.village_code`,
				[]any{pgx.NamedArgs{"draw": k, "min": catalog.MaskMinMetres, "max": catalog.MaskMaxMetres}}},
			{`INSERT INTO ` + target + ` (household_id, mask_id, village_code, geom, digest, shown)
			SELECT d.id, encode(substr(hmac(convert_to('id:' || d.survey_uuid, 'UTF8'), s.secret, 'sha256'), 1, 16), 'hex'),
				d.village_code, d.g, d.digest, d.published
			FROM mask_draw d, mask_secret s WHERE d.inside`, nil},
			{`DROP TABLE mask_todo`, nil},
			{`CREATE TEMP TABLE mask_todo ON COMMIT DROP AS
			SELECT id, survey_uuid, village_code, geom, digest, published FROM mask_draw WHERE NOT inside ORDER BY village_code`, nil},
			{`DROP TABLE mask_draw`, nil},
		})
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM mask_todo`).Scan(&todo); err != nil {
			return err
		}
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
func checkPublication(ctx context.Context, tx pgx.Tx, m *risk.Model, shown *publication) error {
	problems, err := disclosureCheck(ctx, tx, m, "household_score_next", shown.basis)
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
func (st *Store) DisclosureCheck(ctx context.Context, m *risk.Model) ([]string, error) {
	var out []string
	err := pgx.BeginTxFunc(ctx, st.db.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		out, err = disclosureCheck(ctx, tx, m, "household_score", nil)
		if err != nil {
			return err
		}
		hist, err := historyCheck(ctx, tx, m)
		out = append(out, hist...)
		if err != nil {
			return err
		}
		sizes, err := roundSizeCheck(ctx, tx)
		out = append(out, sizes...)
		return err
	})
	return out, err
}

// roundSizeCheck: the shown round's size (round_summary, on /run and
// /rounds) must be the sums of its kabupaten's published counts, the only
// figure published across kabupaten, so that it adds no sum the audit,
// which takes each kabupaten apart, does not cover.
func roundSizeCheck(ctx context.Context, tx pgx.Tx) ([]string, error) {
	var problems []string
	rows, err := tx.Query(ctx, `
		SELECT s.measure, s.n, s.sum
		FROM round_summary r
		CROSS JOIN (SELECT coalesce(sum(households), 0)::int AS h, coalesce(sum(children), 0)::int AS c
			FROM area_public WHERE parent_code IS NULL) p
		CROSS JOIN LATERAL (VALUES ('households', r.households, p.h), ('children', r.children, p.c)) s(measure, n, sum)
		WHERE r.round_id = scored_round() AND s.n IS DISTINCT FROM s.sum`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var measure string
		var got *int
		var want int
		if err := rows.Scan(&measure, &got, &want); err != nil {
			return nil, err
		}
		problems = append(problems, fmt.Sprintf("round size: %s %v is not the sum of the published kabupaten counts (%d)", measure, deref(got), want))
	}
	return problems, rows.Err()
}

// historyCheck audits every release on record against the one before it,
// as an attacker who keeps both and knows which households changed between
// them would read them: every published count that moved must be the work
// of a basis taken anew (release.refreshed) by a batch at the thresholds
// of the rule checked against (m's: a release made under a weaker rule
// fails it), in the area itself (a village, a kecamatan's pipeline) or, for
// a parent, in one of the areas it sums. The tables served now must also be
// the latest release's (its hash).
func historyCheck(ctx context.Context, tx pgx.Tx, m *risk.Model) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT id, coalesce(round_id, ''), refreshed, hash FROM release ORDER BY id`)
	if err != nil {
		return nil, err
	}
	type rel struct {
		id          int64
		shown, hash string
		refreshed   []Refreshed
	}
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		err := r.Scan(&x.id, &x.shown, &x.refreshed, &x.hash)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	var problems []string
	if len(rels) > 0 {
		_, hash, err := publishedHash(ctx, tx)
		if err != nil {
			return nil, err
		}
		if last := rels[len(rels)-1]; hash != last.hash {
			problems = append(problems, fmt.Sprintf("the published tables are not release %d's (hash %s, the ledger says %s)", last.id, hash, last.hash))
		}
	}
	// Which kecamatan and kabupaten each village and kecamatan rolls into,
	// to explain a parent's move.
	parentOf := map[string][]string{}
	prow, err := tx.Query(ctx, `SELECT v.code, v.kecamatan_code, k.kabupaten_code FROM village v JOIN kecamatan k ON k.code = v.kecamatan_code`)
	if err != nil {
		return nil, err
	}
	for prow.Next() {
		var v, kec, kab string
		if err := prow.Scan(&v, &kec, &kab); err != nil {
			prow.Close()
			return nil, err
		}
		parentOf[risk.AreaID(risk.LevelDesa, v)] = []string{risk.AreaID(risk.LevelKecamatan, kec), risk.AreaID(risk.LevelKabupaten, kab)}
		parentOf[risk.AreaID(risk.LevelKecamatan, kec)] = []string{risk.AreaID(risk.LevelKabupaten, kab)}
	}
	prow.Close()
	rule := m.Publication
	for i := 1; i < len(rels); i++ {
		prev, cur := rels[i-1], rels[i]
		explains := map[string]bool{} // table|round|area -> moved by a batch
		for _, r := range cur.refreshed {
			ok := r.Rebase
			if r.Cases > 0 {
				ok = r.Cases >= rule.ChangeMinChildren
			} else if !r.Rebase {
				ok = r.Households >= rule.ChangeMinHouseholds && r.Children >= rule.ChangeMinChildren
			}
			if !ok {
				problems = append(problems, fmt.Sprintf("release %d: %s taken anew by a batch of %d households, %d children, %d cases: under the rule's thresholds",
					cur.id, r.Area, r.Households, r.Children, r.Cases))
				continue
			}
			for _, a := range append([]string{r.Area}, parentOf[r.Area]...) {
				if r.Cases > 0 {
					explains["pipeline_public||"+a] = true
					continue
				}
				explains["round_area|"+r.Round+"|"+a] = true
				if r.Round == cur.shown {
					explains["area_public||"+a] = true
				}
			}
		}
		moved, err := movedAreas(ctx, tx, cur.id, prev.id)
		if err != nil {
			return nil, err
		}
		for _, a := range moved {
			// The map moved to another round: each round's own table
			// (round_area) carries its history.
			if a.tbl == "area_public" && cur.shown != prev.shown {
				continue
			}
			if !explains[a.tbl+"|"+a.round+"|"+a.area] {
				problems = append(problems, fmt.Sprintf("release %d: %s %s %s moved since release %d with no batch of changes that allows it",
					cur.id, a.tbl, a.round, a.area, prev.id))
			}
		}
	}
	return problems, nil
}

func deref[T any](x *T) any {
	if x == nil {
		return nil
	}
	return *x
}

// disclosureCheck audits what is published against what it was published
// from: the shown round's bases (b, or read again when nil), which are the
// counts every published figure must be the rounding or a function of.
func disclosureCheck(ctx context.Context, tx pgx.Tx, m *risk.Model, scores string, b *basis) ([]string, error) {
	rule := m.Publication
	if b == nil {
		round, err := shownRound(ctx, tx)
		if err != nil {
			return nil, err
		}
		if b, err = readBasis(ctx, tx, m, round); err != nil {
			return nil, err
		}
	}
	areas := b.areas
	pub := map[string]risk.PublishedArea{}
	rows, err := tx.Query(ctx, `SELECT level, code, status <> 'insufficient_data' AND status <> 'no_data',
		children, hazardous, child_labour, light_work, not_working, households, labourer_households, poor_households
		FROM area_public`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var level, code string
		var p risk.PublishedArea
		v := make([]*int, 8)
		if err := rows.Scan(&level, &code, &p.Eligible, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]); err != nil {
			rows.Close()
			return nil, err
		}
		area := risk.AreaID(level, code)
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
	problems, err := risk.CheckPublishedCounts(areas, pub, rule)
	if err != nil {
		return nil, err
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
			problems = append(problems, fmt.Sprintf("%s: %d masked households shown while its household count is withheld", risk.AreaID(risk.LevelDesa, code), masked))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Derived figures must be functions of the published counts: computed
	// again from what is served, they must be what is served.
	in, _, err := publicationInputs(ctx, tx, m, areas, scores, &b.within)
	if err != nil {
		return nil, err
	}
	figs := risk.PublishFigures(areas, pub, b.inputs(in), m, b.within, risk.Published)
	b.figures(figs)
	rows, err = tx.Query(ctx, `SELECT level, code, status, prevalence, prevalence_smoothed, mean_household_score,
		farm_labourer_share, poverty_share, score, components, monthly FROM area_public ORDER BY level, code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var level, code string
		var served risk.Figures
		if err := rows.Scan(&level, &code, &served.Status, &served.Prevalence, &served.Smoothed, &served.MeanScore,
			&served.LabourerShare, &served.PovertyShare, &served.Score, &served.Components, &served.Monthly); err != nil {
			return nil, err
		}
		area := risk.AreaID(level, code)
		problems = append(problems, risk.CheckFigures(area, served, figs[area])...)
	}
	return problems, rows.Err()
}

// LatestModel returns the model of the latest scoring run.
func (st *Store) LatestModel(ctx context.Context) (*risk.Model, error) {
	return core.LatestModel(ctx, st.db.Pool)
}

// storeEstimates keeps in area_score the small-area estimates of every
// surveyed village computed on its exact counts, with no minimum sample and
// no rounding: the ranking for those who may see exact figures.
func storeEstimates(ctx context.Context, tx pgx.Tx, areas []risk.AreaCounts, in map[string]risk.AreaInput, m *risk.Model, within float64) error {
	exact := map[string]risk.PublishedArea{}
	for _, a := range areas {
		p := risk.PublishedArea{Eligible: a.Counts["households"] > 0 && a.Counts["children"] > 0, Values: map[string]*int{}}
		for _, ms := range risk.CountMeasures {
			v := a.Counts[ms]
			p.Values[ms] = &v
		}
		exact[a.Area] = p
	}
	var codes, monthly, quality []string
	var score, lo, hi, prev, plo, phi []*float64
	for area, f := range risk.PublishFigures(areas, exact, in, m, within, risk.Exact) {
		level, code, _ := risk.SplitAreaID(area)
		if level != risk.LevelDesa {
			continue
		}
		codes = append(codes, code)
		score, lo, hi = append(score, f.Score), append(lo, f.ScoreLo), append(hi, f.ScoreHi)
		prev, plo, phi = append(prev, f.Smoothed), append(plo, f.SmoothedLo), append(phi, f.SmoothedHi)
		mb, _ := json.Marshal(f.Monthly)
		qb, _ := json.Marshal(append([]string{}, f.DataQuality...))
		monthly, quality = append(monthly, string(mb)), append(quality, string(qb))
	}
	_, err := tx.Exec(ctx, `
		UPDATE area_score a SET est_score = u.score, est_score_lo = u.lo, est_score_hi = u.hi,
			est_monthly = CASE WHEN u.monthly = 'null' THEN NULL ELSE array(SELECT jsonb_array_elements_text(u.monthly::jsonb)::real) END,
			est_prevalence = u.prev, est_prevalence_lo = u.plo, est_prevalence_hi = u.phi,
			est_data_quality = array(SELECT jsonb_array_elements_text(u.quality::jsonb))
		FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::text[], $6::float8[], $7::float8[], $8::float8[], $9::text[])
			AS u(code, score, lo, hi, monthly, prev, plo, phi, quality)
		WHERE a.level = 'desa' AND a.code = u.code`, codes, score, lo, hi, monthly, prev, plo, phi, quality)
	return err
}
