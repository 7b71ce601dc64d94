package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"sync"

	"github.com/kesempatan/riskmap/internal/risk"
)

// Target is one ranked village or household with the three components that
// weigh most in its score.
type Target struct {
	Rank      int      `json:"rank"`
	ID        string   `json:"id"`   // village code, or household survey uuid
	Name      string   `json:"name"` // village name (for a household, its village's)
	Village   string   `json:"village_code"`
	Score     float64  `json:"score"`
	Seasonal  float64  `json:"seasonal_score"` // the score in the chosen month
	Tier      string   `json:"tier"`
	Reasons   []string `json:"reasons"`                   // "indicator (points)", largest first
	TopReason string   `json:"top_tier_reason,omitempty"` // households: the child that forces the top tier, if any
	// Villages: the sample and the uncertainty behind the rank.
	Kecamatan   string    `json:"kecamatan,omitempty"`
	Households  *int      `json:"households,omitempty"` // surveyed, rounded to 5
	Children    *int      `json:"children,omitempty"`
	ScoreLow    *float64  `json:"score_low,omitempty"` // the score with every survey-based component at the low end of its interval
	ScoreHigh   *float64  `json:"score_high,omitempty"`
	Prevalence  *float64  `json:"prevalence_smoothed,omitempty"`
	Interval    []float64 `json:"prevalence_interval,omitempty"`
	DataQuality []string  `json:"data_quality,omitempty"`
	// Components are every indicator's points (they add up to Score); a
	// null one is withheld or missing, and its weight went to the others.
	Components map[string]*float64 `json:"components,omitempty"`
	// Villages: how sure the rank is (risk.RankUncertainty): a 90%
	// interval of the rank among every ranked village of the area, the
	// probability of being among the top K, that probability in words,
	// and whether it is in the top-K set: the villages that hold all of
	// the true top K together with 90% probability.
	RankLow      *int     `json:"rank_low,omitempty"`
	RankHigh     *int     `json:"rank_high,omitempty"`
	PTop         *float64 `json:"p_top,omitempty"`
	TopCertainty string   `json:"top_certainty,omitempty"`
	InTopSet     *bool    `json:"in_top_set,omitempty"`
}

// RankDraws is how many draws RankUncertainty makes for a ranking: the
// p_top of a village is then within about 0.01 of its limit.
const RankDraws = 2000

// NotRanked counts the villages of an area that a ranking leaves out, by
// why: insufficient_data (under the minimum sample), withheld, no_data.
type NotRanked map[string]int

func checkTargetArgs(month int, area string, limit int) error {
	if month < 1 || month > 12 {
		return risk.Errorf(risk.EINVALID, "month %d: want 1..12", month)
	}
	if area != "" && !risk.IsAreaCode(area) {
		return risk.Errorf(risk.EINVALID, "area %q: want a kabupaten, kecamatan or desa code such as 35.13 or 35.13.13", area)
	}
	if limit < 1 || limit > 10000 {
		return risk.Errorf(risk.EINVALID, "limit %d: want 1..10000", limit)
	}
	return nil
}

// VillageTargets ranks the villages of an area (a code prefix; empty for
// all) with published figures by their seasonal score in month: the score
// of small-area estimates, which already pulls villages with few surveyed
// households toward their kecamatan (docs/methodology.md, "Whom to visit").
// Each carries its sample and intervals; villages that cannot be ranked are
// counted by reason.
//
// With exact, the ranking is the small-area estimates on exact counts, every
// surveyed village ranked, small samples flagged: for callers who may see
// exact figures (risk.Principal.ExactRanking).
func (st *Store) VillageTargets(ctx context.Context, month int, area string, limit, top int, exact bool) ([]Target, NotRanked, error) {
	if err := checkTargetArgs(month, area, limit); err != nil {
		return nil, nil, err
	}
	if top < 1 || top > 1000 {
		return nil, nil, risk.Errorf(risk.EINVALID, "top %d: want 1..1000 (the length of the list whose membership p_top gives)", top)
	}
	query := villageTargetsPublished
	if exact {
		query = villageTargetsExact
	}
	rows, err := st.db.Reader().Query(ctx, query, month, area, limit, risk.VillageIndicators)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []Target
	for rows.Next() {
		t := Target{Rank: len(out) + 1}
		var kec *string
		var lo, hi *float64
		var comps []byte
		if err := rows.Scan(&t.ID, &t.Name, &kec, &t.Score, &t.Seasonal, &t.Tier, &t.Reasons, &t.Households, &t.Children,
			&t.ScoreLow, &t.ScoreHigh, &t.Prevalence, &lo, &hi, &t.DataQuality, &comps); err != nil {
			return nil, nil, err
		}
		if comps != nil {
			if err := json.Unmarshal(comps, &t.Components); err != nil {
				return nil, nil, err
			}
		}
		if kec != nil {
			t.Kecamatan = *kec
		}
		if lo != nil && hi != nil {
			t.Interval = []float64{*lo, *hi}
		}
		t.Village = t.ID
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if err := rankBands(ctx, st, out, month, area, top, exact); err != nil {
		return nil, nil, err
	}
	not := NotRanked{}
	notQuery := `SELECT a.status, count(*) FROM area_public a
		WHERE a.level = 'desa' AND a.score IS NULL AND (a.code = $1 OR a.code LIKE $1 || '.%' OR $1 = '') GROUP BY 1`
	if exact {
		notQuery = `SELECT CASE WHEN a.households = 0 THEN 'no_data' ELSE 'no_children' END, count(*) FROM area_score a
			WHERE a.level = 'desa' AND a.est_score IS NULL AND (a.code = $1 OR a.code LIKE $1 || '.%' OR $1 = '') GROUP BY 1`
	}
	rows, err = st.db.Reader().Query(ctx, notQuery, area)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, nil, err
		}
		not[st] = n
	}
	return out, not, rows.Err()
}

// estimationLevel is the credible level of the latest run's intervals.
func (st *Store) estimationLevel(ctx context.Context) (float64, error) {
	o, err := st.rankEstimation(ctx, false)
	return o.Level, err
}

// rankEstimation reads the rank simulation's settings for the exact or the
// published ranking from the model the figures were scored with: the
// credible level, the draws' tail scales, the rank intervals' level and
// the p_top calibration curve (before any run: 0.9 and the intervals as
// they are; there is then nothing to rank). Top, Draws and Seed are the
// caller's.
func (st *Store) rankEstimation(ctx context.Context, exact bool) (risk.RankOptions, error) {
	var o risk.RankOptions
	var curve []byte
	basis := map[bool]string{true: "exact", false: "published"}[exact]
	err := st.db.Reader().QueryRow(ctx, `SELECT coalesce((model->'estimation'->>'level')::float8, 0.9),
			coalesce((model->'estimation'->'rank_tails'->$1->>'lower')::float8, 0),
			coalesce((model->'estimation'->'rank_tails'->$1->>'upper')::float8, 0),
			coalesce((model->'estimation'->'rank_interval_level'->>$1)::float8, 0),
			coalesce(model->'estimation'->'p_top_curve'->$1, '[]')::text
		FROM (SELECT (SELECT model FROM score_run ORDER BY id DESC LIMIT 1) AS model) m`, basis).
		Scan(&o.Level, &o.Tails.Lower, &o.Tails.Upper, &o.RankLevel, &curve)
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal(curve, &o.Curve); err != nil {
		return o, fmt.Errorf("the scoring run's model: estimation.p_top_curve.%s: %w", basis, err)
	}
	return o, nil
}

// SurveyPlan proposes where to survey households next so that the top-K
// list of the ranking (exact, or published) becomes as certain as it can
// for that effort (risk.PlanSurvey), in steps of 10 households. It returns
// the plan and the ranked villages by code.
func (st *Store) SurveyPlan(ctx context.Context, month int, area string, top, households int, exact bool) (risk.Plan, map[string]Target, error) {
	if households < 10 || households > 1_000_000 {
		return risk.Plan{}, nil, risk.Errorf(risk.EINVALID, "households %d: want 10..1000000", households)
	}
	ts, _, err := st.VillageTargets(ctx, month, area, 10000, top, exact)
	if err != nil {
		return risk.Plan{}, nil, err
	}
	level, err := st.estimationLevel(ctx)
	if err != nil {
		return risk.Plan{}, nil, err
	}
	byCode := map[string]Target{}
	vs := make([]risk.PlanVillage, 0, len(ts))
	for _, t := range ts {
		byCode[t.ID] = t
		v := risk.PlanVillage{Code: t.ID, Score: t.Seasonal, Lo: t.Seasonal, Hi: t.Seasonal}
		if t.Households != nil {
			v.Households = *t.Households
		}
		if t.ScoreLow != nil && t.ScoreHigh != nil && t.Score > 0 {
			f := t.Seasonal / t.Score
			v.Lo, v.Hi = math.Min(*t.ScoreLow*f, t.Seasonal), math.Max(*t.ScoreHigh*f, t.Seasonal)
		}
		vs = append(vs, v)
	}
	return risk.PlanSurvey(vs, risk.PlanOptions{Households: households, Top: top, Step: 10, Level: level}), byCode, nil
}

// rankBands gives each target its rank band among every village the
// ranking ranks in the area (not only the first limit): the seasonal score
// in month and its interval, the score's interval scaled by the month's
// share of the score, in the ranking's order.
func rankBands(ctx context.Context, st *Store, ts []Target, month int, area string, top int, exact bool) error {
	query := `SELECT a.monthly[$1], a.score, a.score_lo, a.score_hi
		FROM area_public a WHERE a.level = 'desa' AND a.score IS NOT NULL AND (a.code = $2 OR a.code LIKE $2 || '.%' OR $2 = '')
		ORDER BY a.monthly[$1] DESC, a.score DESC, a.code`
	if exact {
		query = `SELECT a.est_monthly[$1], a.est_score, a.est_score_lo, a.est_score_hi
		FROM area_score a WHERE a.level = 'desa' AND a.est_score IS NOT NULL AND (a.code = $2 OR a.code LIKE $2 || '.%' OR $2 = '')
		ORDER BY a.est_monthly[$1] DESC, a.est_score DESC, a.code`
	}
	version, err := st.DataVersion(ctx)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("%s|%d|%s|%d|%v", version, month, area, top, exact)
	bands, ok := st.bands.get(key)
	if !ok {
		if bands, err = st.simulateBands(ctx, query, month, area, top, exact); err != nil {
			return err
		}
		st.bands.put(key, bands)
	}
	for i := range ts {
		if i >= len(bands) {
			break
		}
		b := bands[i]
		lo, hi, p := b.RankLow, b.RankHigh, math.Round(b.PTop*1000)/1000
		set := b.InTopSet
		ts[i].RankLow, ts[i].RankHigh, ts[i].PTop, ts[i].TopCertainty, ts[i].InTopSet = &lo, &hi, &p, risk.TopCertainty(b.PTop), &set
	}
	return nil
}

// bandCache holds rank bands by data version and request, at most
// bandCacheSize of them (all dropped when full: a new data version makes
// the old ones useless anyway).
type bandCache struct {
	mu sync.Mutex
	m  map[string][]risk.RankBand
}

const bandCacheSize = 128

func (c *bandCache) get(key string) ([]risk.RankBand, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[key]
	return b, ok
}

func (c *bandCache) put(key string, b []risk.RankBand) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= bandCacheSize {
		c.m = map[string][]risk.RankBand{}
	}
	c.m[key] = b
}

// simulateBands reads the whole ranking's scores and intervals and
// simulates its rank bands.
func (st *Store) simulateBands(ctx context.Context, query string, month int, area string, top int, exact bool) ([]risk.RankBand, error) {
	o, err := st.rankEstimation(ctx, exact)
	if err != nil {
		return nil, err
	}
	rows, err := st.db.Reader().Query(ctx, query, month, area)
	if err != nil {
		return nil, err
	}
	var in []risk.RankInput
	for rows.Next() {
		var seasonal, score float64
		var lo, hi *float64
		if err := rows.Scan(&seasonal, &score, &lo, &hi); err != nil {
			rows.Close()
			return nil, err
		}
		x := risk.RankInput{Score: seasonal, Lo: seasonal, Hi: seasonal}
		if lo != nil && hi != nil && score > 0 {
			f := seasonal / score
			x.Lo, x.Hi = math.Min(*lo*f, seasonal), math.Max(*hi*f, seasonal)
		}
		in = append(in, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%s|%d|%v", month, area, top, exact)
	o.Top, o.Draws, o.Seed = top, RankDraws, h.Sum64()
	return risk.RankUncertainty(in, o), nil
}

const villageTargetsExact = `
		SELECT a.code, v.name, k.name, round(a.est_score::numeric, 2)::float8, round(a.est_monthly[$1]::numeric, 2)::float8,
			CASE WHEN a.est_score >= (SELECT (model->'tiers'->>'high')::float8 FROM score_run ORDER BY id DESC LIMIT 1) THEN 'high'
			     WHEN a.est_score >= (SELECT (model->'tiers'->>'medium')::float8 FROM score_run ORDER BY id DESC LIMIT 1) THEN 'medium' ELSE 'low' END,
			'{}'::text[], a.households, a.children, round(a.est_score_lo::numeric, 1)::float8, round(a.est_score_hi::numeric, 1)::float8,
			round(a.est_prevalence::numeric, 4)::float8, round(a.est_prevalence_lo::numeric, 4)::float8,
			round(a.est_prevalence_hi::numeric, 4)::float8, a.est_data_quality, CASE WHEN $4::text[] IS NULL THEN NULL END::jsonb
		FROM area_score a JOIN village v ON v.code = a.code LEFT JOIN kecamatan k ON k.code = v.kecamatan_code
		WHERE a.level = 'desa' AND a.est_score IS NOT NULL AND (a.code = $2 OR a.code LIKE $2 || '.%' OR $2 = '')
		ORDER BY a.est_monthly[$1] DESC, a.est_score DESC, a.code
		LIMIT $3`

const villageTargetsPublished = `
		SELECT a.code, v.name, k.name, round(a.score::numeric, 2)::float8, round(a.monthly[$1]::numeric, 2)::float8, a.tier,
			array(SELECT format('%s (%s)', key, round(value::numeric, 1)) FROM jsonb_each_text(a.components)
			      WHERE value::float8 > 0 ORDER BY value::float8 DESC, key LIMIT 3),
			a.households, a.children, round(a.score_lo::numeric, 1)::float8, round(a.score_hi::numeric, 1)::float8, round(a.prevalence_smoothed::numeric, 4)::float8,
			round(a.prevalence_smoothed_lo::numeric, 4)::float8, round(a.prevalence_smoothed_hi::numeric, 4)::float8, a.data_quality,
			(SELECT jsonb_object_agg(n, round((a.components->>n)::numeric, 2)) FROM unnest($4::text[]) n)
		FROM area_public a JOIN village v ON v.code = a.code LEFT JOIN kecamatan k ON k.code = v.kecamatan_code
		WHERE a.level = 'desa' AND a.score IS NOT NULL AND (a.code = $2 OR a.code LIKE $2 || '.%' OR $2 = '')
		ORDER BY a.monthly[$1] DESC, a.score DESC, a.code
		LIMIT $3`

// HouseholdTargets ranks the households of some areas (nil: everywhere) by their seasonal score
// in month, households with a child in hazardous work or child labour first,
// leaving out those under active follow-up (an open case, or a follow_up
// record): staff already visit them on the case's schedule (GET /cases).
// Only households of the round the map shows are ranked. It returns household-level data:
// callers must restrict it to authorised staff.
func (st *Store) HouseholdTargets(ctx context.Context, month int, areas []string, limit int) ([]Target, error) {
	for _, a := range areas {
		if err := checkTargetArgs(month, a, limit); err != nil {
			return nil, err
		}
	}
	if err := checkTargetArgs(month, "", limit); err != nil {
		return nil, err
	}
	rows, err := st.db.Reader().Query(ctx, `
		SELECT h.survey_uuid, v.name, h.village_code, s.score, round((s.score * c.labour_index[$1])::numeric, 2)::float8, s.tier,
			array(SELECT format('%s (%s)', k.name, round(k.points::numeric, 1)) FROM score_component k
			      WHERE (s.indicators::int & (1 << k.bit)) <> 0 AND k.points > 0 ORDER BY k.points DESC, k.name LIMIT 3),
			coalesce(s.top_tier_reason, '')
		FROM household_score s
		JOIN household h ON h.id = s.household_id
		JOIN village v ON v.code = h.village_code
		JOIN score_calendar c ON c.variety = s.variety
		WHERE ($2::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest($2::text[]) a WHERE h.village_code = a OR h.village_code LIKE a || '.%'))
		  AND h.round_id = (SELECT scored_round())
		  AND NOT EXISTS (SELECT 1 FROM follow_up f WHERE f.household_id = h.id AND f.ended_on IS NULL)
		  AND NOT EXISTS (SELECT 1 FROM child_case k WHERE k.identity_id = h.identity_id AND k.status NOT IN ('closed', 'lost'))
		ORDER BY s.top_tier_reason IS NULL, s.score * c.labour_index[$1] DESC, h.survey_uuid
		LIMIT $3`, month, areas, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Target
	for rows.Next() {
		t := Target{Rank: len(out) + 1}
		if err := rows.Scan(&t.ID, &t.Name, &t.Village, &t.Score, &t.Seasonal, &t.Tier, &t.Reasons, &t.TopReason); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
