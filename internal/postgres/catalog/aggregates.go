package catalog

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Aggregates returns the area scores of one level (desa, kecamatan or
// kabupaten), optionally within a parent code, as a JSON array built by
// PostgreSQL. Only aggregate counts: no household or child appears.
func (st *Store) Aggregates(ctx context.Context, level, parent string) ([]byte, error) {
	table := map[string]string{"desa": "village", "kecamatan": "kecamatan", "kabupaten": "kabupaten"}[level]
	if table == "" {
		return nil, risk.Errorf(risk.EINVALID, "level %q: want desa, kecamatan or kabupaten", level)
	}
	if parent != "" && !risk.IsAreaCode(parent) {
		return nil, risk.Errorf(risk.EINVALID, "parent %q is not a Kemendagri code", parent)
	}
	var out []byte
	err := st.db.Reader().QueryRow(ctx, `
		SELECT coalesce(json_agg(json_build_object(
			'code', s.code, 'name', n.name, 'parent_code', s.parent_code, 'households', s.households,
			'children', s.children, 'hazardous', s.hazardous, 'child_labour', s.child_labour,
			'light_work', s.light_work, 'not_working', s.not_working,
			'prevalence', round(s.prevalence::numeric, 4), 'prevalence_smoothed', round(s.prevalence_smoothed::numeric, 4),
			'status', s.status, 'labourer_households', s.labourer_households, 'poor_households', s.poor_households,
			'mean_household_score', round(s.mean_household_score::numeric, 2),
			'tobacco_share', round(s.tobacco_share::numeric, 4), 'farm_labourer_share', round(s.farm_labourer_share::numeric, 4),
			'poverty_share', round(s.poverty_share::numeric, 4), 'institutions_missing', s.institutions_missing,
			'score', round(s.score::numeric, 2), 'tier', s.tier, 'components', s.components, 'monthly', s.monthly,
			'suppressed', s.suppressed, 'villages', s.villages, 'surveyed_villages', s.surveyed_villages,
			'published_villages', s.published_villages)
			ORDER BY s.code), '[]')::text
		FROM area_public s
		LEFT JOIN (SELECT code, name FROM village UNION ALL SELECT code, name FROM kecamatan
		           UNION ALL SELECT code, name FROM kabupaten) n ON n.code = s.code
		WHERE s.level = $1 AND ($2 = '' OR s.parent_code = $2 OR s.parent_code LIKE $2 || '.%')`, level, parent).Scan(&out)
	return out, core.Wrap(err)
}

// VillageProfile returns one village's profile as JSON: its score and
// components, seasonal curve, counts by classification, institutions and
// hotspot class.
func (st *Store) VillageProfile(ctx context.Context, code string) ([]byte, error) {
	if !risk.IsAreaCode(code) || len(code) != len("35.13.13.2003") {
		return nil, risk.Errorf(risk.EINVALID, "%q is not a village code such as 35.13.13.2003", code)
	}
	var out []byte
	err := st.db.Reader().QueryRow(ctx, `
		SELECT json_build_object(
			'code', v.code, 'name', v.name, 'kecamatan_code', v.kecamatan_code, 'kecamatan', k.name,
			'kabupaten_code', v.kabupaten_code, 'area_km2', round((v.area_m2 / 1e6)::numeric, 3),
			'status', coalesce(s.status, 'no_data'), 'households', s.households, 'children', s.children,
			'classification', json_build_object('hazardous', s.hazardous, 'child_labour', s.child_labour,
				'light_work', s.light_work, 'not_working', s.not_working),
			'prevalence', round(s.prevalence::numeric, 4), 'prevalence_smoothed', round(s.prevalence_smoothed::numeric, 4),
			'score', round(s.score::numeric, 2), 'tier', coalesce(s.tier, 'no_data'), 'components', s.components,
			'monthly', s.monthly, 'tobacco_share', round(s.tobacco_share::numeric, 4),
			'institutions', (SELECT coalesce(json_agg(json_build_object('kind', i.kind, 'established', i.established, 'note', i.note) ORDER BY i.kind), '[]')
				FROM institution i WHERE i.village_code = v.code),
			'institutions_missing', s.institutions_missing, 'suppressed', s.suppressed,
			'hotspot', (SELECT json_build_object('class', h.class, 'z', round(h.z::numeric, 4), 'p', round(h.p::numeric, 4))
				FROM hotspot h WHERE h.village_code = v.code))::text
		FROM village v LEFT JOIN kecamatan k ON k.code = v.kecamatan_code
		LEFT JOIN area_public s ON s.level = 'desa' AND s.code = v.code
		WHERE v.code = $1`, code).Scan(&out)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, risk.Errorf(risk.ENOTFOUND, "no village %s", code)
	}
	return out, core.Wrap(err)
}

// Calendar returns the labour index by variety and month of the latest
// scoring run, as JSON: {"default_variety": ..., "varieties": {name: [12]}}.
// LatestRun describes the scoring run the served figures come from: when,
// with which model, over what, and whether the survey data is synthetic.
func (st *Store) LatestRun(ctx context.Context) ([]byte, error) {
	var out []byte
	err := st.db.Reader().QueryRow(ctx, `
		SELECT coalesce((SELECT json_build_object('run', r.id, 'model_version', r.model_version, 'finished_at', r.finished_at,
			'release', r.release_id,
			-- sizes of the release's bases, rounded as every published count
			-- is: the run's exact totals would move with a single household
			'households', (round(s.households / b.base) * b.base)::int, 'children', (round(s.children / b.base) * b.base)::int,
			'villages', (SELECT count(*) FROM area_public WHERE level = 'desa' AND status <> 'no_data'), 'synthetic', r.synthetic,
			-- the map's score classes: quintiles of the published village
			-- scores (computed from published figures only)
			'score_breaks', (SELECT percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY score)
				FROM area_public WHERE level = 'desa' AND score IS NOT NULL HAVING count(*) >= 5))
			FROM score_run r
			CROSS JOIN LATERAL (SELECT greatest(coalesce((r.model->'publication'->>'rounding_base')::numeric, 1), 1) AS base) b
			LEFT JOIN round_summary s ON s.round_id = r.round_id
			ORDER BY r.id DESC LIMIT 1), json_build_object('run', null, 'synthetic', false))::text`).Scan(&out)
	return out, core.Wrap(err)
}

func (st *Store) Calendar(ctx context.Context) ([]byte, error) {
	var out []byte
	err := st.db.Reader().QueryRow(ctx, `
		SELECT json_build_object(
			'default_variety', (SELECT model->>'default_variety' FROM score_run ORDER BY id DESC LIMIT 1),
			'varieties', coalesce((SELECT json_object_agg(variety, labour_index ORDER BY variety) FROM score_calendar), '{}'))::text`).Scan(&out)
	return out, core.Wrap(err)
}
