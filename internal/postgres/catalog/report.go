package catalog

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Label is where to write an area's name on a map.
type Label struct {
	Code      string  `json:"code"`
	Name      string  `json:"name"`
	Kecamatan string  `json:"kecamatan,omitempty"`
	Lon       float64 `json:"lon"`
	Lat       float64 `json:"lat"`
}

// LabelQuery narrows Labels: areas whose label point lies in BBox
// (minLon, minLat, maxLon, maxLat), whose name contains Q (any case) or
// whose code starts with it, at most Limit of them (0: no limit).
type LabelQuery struct {
	BBox  *[4]float64
	Q     string
	Limit int
}

// Labels returns a point inside each village (level desa) or kecamatan, with
// its name: the map writes names there without font files (no request
// leaves the service). The map asks for the labels in its view, and
// search asks by name: at national size every village's label is
// megabytes.
func (st *Store) Labels(ctx context.Context, level string, q LabelQuery) ([]Label, error) {
	from := map[string]string{
		"desa": `SELECT v.code, v.name, coalesce(k.name, '') AS kecamatan, v.geom FROM village v
			LEFT JOIN kecamatan k ON k.code = v.kecamatan_code`,
		"kecamatan": `SELECT k.code, k.name, '' AS kecamatan, k.geom FROM kecamatan k`,
	}[level]
	if from == "" {
		return nil, risk.Errorf(risk.EINVALID, "level %q: want desa or kecamatan", level)
	}
	var bbox []float64
	if q.BBox != nil {
		bbox = q.BBox[:]
	}
	limit := any(nil)
	if q.Limit > 0 {
		limit = q.Limit
	}
	// The point inside each area is found only for the areas the name, code
	// and box already select (it costs about 10 µs an area: a second for
	// every village of the country).
	rows, err := st.db.Reader().Query(ctx, `
		SELECT l.code, l.name, l.kecamatan, ST_X(l.p), ST_Y(l.p)
		FROM (SELECT a.code, a.name, a.kecamatan, ST_PointOnSurface(a.geom) AS p
			FROM (`+from+`) a
			WHERE ($1::float8[] IS NULL OR a.geom && ST_MakeEnvelope($1[1], $1[2], $1[3], $1[4], 4326))
			  AND ($2 = '' OR a.name ILIKE '%' || replace(replace(replace($2, '\', '\\'), '%', '\%'), '_', '\_') || '%' OR left(a.code, length($2)) = $2)) l
		WHERE $1::float8[] IS NULL OR ST_Intersects(l.p, ST_MakeEnvelope($1[1], $1[2], $1[3], $1[4], 4326))
		ORDER BY l.code LIMIT $3`, bbox, q.Q, limit)
	if err != nil {
		return nil, core.Wrap(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Label, error) {
		var l Label
		err := r.Scan(&l.Code, &l.Name, &l.Kecamatan, &l.Lon, &l.Lat)
		return l, err
	})
}

// ReportArea is one area drawn and listed in a printed report.
type ReportArea struct {
	Code, Name, Tier, Status string
	Score, Seasonal          *float64
	Households, Children     *int
	Hazardous, ChildLabour   *int
	SVG                      string // the outline, as SVG path data (y is minus latitude)
	Selected                 bool   // the area the report is about
	Components               map[string]*float64
	// How sure its place in the kecamatan's ranking is (ranked villages
	// only): a 90% interval of the rank and the probability of being
	// among the kecamatan's ReportTop worst, with that in words.
	RankLow, RankHigh *int
	PTop              *float64
	TopCertainty      string
}

// ReportTop is the K of a report's p_top: a kecamatan's 3 worst villages.
const ReportTop = 3

// Report is what a printed A4 report of a village or kecamatan shows.
type Report struct {
	Level, Code, Name, Parent string
	Month                     int
	ViewBox                   [4]float64 // minx, miny, width, height in SVG coordinates
	Areas                     []ReportArea
	Run                       []byte // /run's JSON: when, which model, synthetic
}

// Report gathers a village's report (the village among its kecamatan's
// villages) or a kecamatan's (its villages ranked by the month's score),
// from the published figures only.
func (st *Store) Report(ctx context.Context, level, code string, month int) (*Report, error) {
	if month < 1 || month > 12 {
		return nil, risk.Errorf(risk.EINVALID, "month %d: want 1..12", month)
	}
	rep := &Report{Level: level, Code: code, Month: month}
	var kec string
	switch level {
	case "desa":
		err := st.db.Reader().QueryRow(ctx, `SELECT v.name, v.kecamatan_code, coalesce(k.name, '') FROM village v LEFT JOIN kecamatan k ON k.code = v.kecamatan_code WHERE v.code = $1`, code).
			Scan(&rep.Name, &kec, &rep.Parent)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, risk.Errorf(risk.ENOTFOUND, "no village %s", code)
		}
		if err != nil {
			return nil, core.Wrap(err)
		}
	case "kecamatan":
		err := st.db.Reader().QueryRow(ctx, `SELECT k.name, coalesce(b.name, '') FROM kecamatan k LEFT JOIN kabupaten b ON b.code = k.kabupaten_code WHERE k.code = $1`, code).
			Scan(&rep.Name, &rep.Parent)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, risk.Errorf(risk.ENOTFOUND, "no kecamatan %s", code)
		}
		if err != nil {
			return nil, core.Wrap(err)
		}
		kec = code
	default:
		return nil, risk.Errorf(risk.EINVALID, "level %q: want desa or kecamatan", level)
	}
	err := st.db.Reader().QueryRow(ctx, `SELECT ST_XMin(e), -ST_YMax(e), ST_XMax(e) - ST_XMin(e), ST_YMax(e) - ST_YMin(e)
		FROM (SELECT ST_Extent(geom) AS e FROM village WHERE kecamatan_code = $1) x`, kec).
		Scan(&rep.ViewBox[0], &rep.ViewBox[1], &rep.ViewBox[2], &rep.ViewBox[3])
	if err != nil {
		return nil, core.Wrap(err)
	}
	rows, err := st.db.Reader().Query(ctx, `
		SELECT v.code, v.name, coalesce(s.tier, 'no_data'), coalesce(s.status, 'no_data'), round(s.score::numeric, 1)::float8,
			round(s.monthly[$2]::numeric, 1)::float8, s.households, s.children, s.hazardous, s.child_labour,
			ST_AsSVG(ST_SimplifyPreserveTopology(v.geom, 0.0001), 0, 5), v.code = $3,
			(SELECT jsonb_object_agg(n, round((s.components->>n)::numeric, 2)) FROM unnest($4::text[]) n)
		FROM village v LEFT JOIN area_public s ON s.level = 'desa' AND s.code = v.code
		WHERE v.kecamatan_code = $1
		ORDER BY s.monthly[$2] DESC NULLS LAST, v.name`, kec, month, code, risk.VillageIndicators)
	if err != nil {
		return nil, core.Wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a ReportArea
		var comps []byte
		if err := rows.Scan(&a.Code, &a.Name, &a.Tier, &a.Status, &a.Score, &a.Seasonal, &a.Households, &a.Children, &a.Hazardous,
			&a.ChildLabour, &a.SVG, &a.Selected, &comps); err != nil {
			return nil, err
		}
		if comps != nil && a.Score != nil {
			if err := json.Unmarshal(comps, &a.Components); err != nil {
				return nil, err
			}
		}
		rep.Areas = append(rep.Areas, a)
	}
	if err := rows.Err(); err != nil {
		return nil, core.Wrap(err)
	}
	ranked, _, err := st.VillageTargets(ctx, month, kec, 10000, ReportTop, false)
	if err != nil {
		return nil, err
	}
	byCode := map[string]Target{}
	for _, t := range ranked {
		byCode[t.ID] = t
	}
	for i := range rep.Areas {
		if t, ok := byCode[rep.Areas[i].Code]; ok {
			a := &rep.Areas[i]
			a.RankLow, a.RankHigh, a.PTop, a.TopCertainty = t.RankLow, t.RankHigh, t.PTop, t.TopCertainty
		}
	}
	if rep.Run, err = st.LatestRun(ctx); err != nil {
		return nil, err
	}
	return rep, nil
}
