// Package catalog is what riskmap serves: the collections of OGC API -
// Features (Collection, ItemsQuery and the SQL they assemble), vector
// tiles built by PostGIS, the area layers' pieces, aggregates, rankings
// with their rank uncertainty, reports, labels, survey rounds and the
// latest run. Reads go to the served pools (and a read replica when one is
// attached); household-level queries read for a Scope that must be said.
package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Store is the served catalogue over a core.
type Store struct {
	db *core.DB
	// bands keeps rank bands (RankUncertainty) per data version and
	// request: simulating a national ranking takes seconds.
	bands bandCache
	// mem keeps the area layers' tile properties in memory (MemProps).
	mem memProps
	// warm lets one of the service's reads of what it keeps in memory
	// (TileCoverage, TilePieceSet, LoadMemProps) run at a time: at a
	// start they are a few seconds of work for the country, and run all
	// at once they took both cores from the first visitor (the map page's
	// first draw went from 2.5 s to 3.6 s).
	warm chan struct{}
}

// warmTurn waits for warm's turn; done ends it.
func (st *Store) warmTurn(ctx context.Context) (done func(), err error) {
	select {
	case st.warm <- struct{}{}:
		return func() { <-st.warm }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// New returns the catalogue over a core.
func New(db *core.DB) *Store { return &Store{db: db, warm: make(chan struct{}, 1)} }

// Property is one property of a feature collection. Expr is SQL from this
// file's allow-list, never from a request.
type Property struct {
	Name        string
	Type        string // string, integer, number, boolean, array, object
	Description string
	Expr        string
	Filter      bool // usable as ?name=value
	Sort        bool // usable in sortby
	// Enum lists the values a string property takes: filters on it are
	// checked against them, and queryables publish them.
	Enum []string
	// TileZoom is the first zoom whose vector tiles carry the property
	// (0: every zoom). Tiles that hold thousands of areas carry only what
	// a map colours and names them by; the rest comes with closer zooms.
	TileZoom int
}

// Nested reports whether a property is a JSON object or array. GIS formats
// (GeoPackage, Shapefile) cannot store those, so a page of features serves
// them only when asked for by name (properties=components), and one feature
// (items/{id}, a record) always; every one has flat, typed fields beside it
// (c_*, m01..m12, n_*).
func (p Property) Nested() bool { return p.Type == "object" || p.Type == "array" }

// flatMonthly returns m01..m12: the seasonal score of each month.
func flatMonthly(expr string) []Property {
	var out []Property
	for m := 1; m <= 12; m++ {
		out = append(out, Property{Name: fmt.Sprintf("m%02d", m), Type: "number",
			Description: fmt.Sprintf("seasonal score in month %d (%s)", m, monthNames[m-1]),
			Expr:        fmt.Sprintf("round((%s)[%d]::numeric, 2)", expr, m), Sort: true})
	}
	return out
}

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// flatComponents returns c_NAME for each indicator of a components object.
func flatComponents(expr string, names []string, what string) []Property {
	var out []Property
	for _, n := range names {
		out = append(out, Property{Name: "c_" + n, Type: "number", Description: "points from " + strings.ReplaceAll(n, "_", " ") + " (" + what + ")",
			Expr: fmt.Sprintf("round(((%s)->>'%s')::numeric, 2)", expr, n), Sort: true})
	}
	return out
}

// Collection is a feature collection served over OGC API - Features.
type Collection struct {
	ID, Title, Description string
	From                   string // FROM clause
	IDExpr                 string // the stable domain id
	// Key is the unique, indexed expression pages are ordered and keyed by
	// (next links' after=); empty: IDExpr. KeyInt: it is an integer.
	Key          string
	KeyInt       bool
	Geom         string // geometry expression, EPSG:4326
	GeometryType string
	Properties   []Property
	Month        string // expression of the seasonal score for month $m, if any
	Where        string // a condition every query of the collection adds, if any
	Private      bool   // household-level data: staff (their areas) and admins only
	AreaExpr     string // village code of a private feature, for area restrictions
	// Base is the table of From that holds IDExpr, alone (e.g. "household
	// hh"): a deep page by offset finds its first id there, by an
	// index-only scan, when nothing filters the page.
	Base string
	// TileLayer names the collection's rows in tile_geom (migration 012):
	// its geometry in Web Mercator, simplified per zoom band, keyed by
	// IDExpr. Empty: tiles transform and simplify on the fly.
	TileLayer string
	// TimeStart and TimeEnd are a feature's time (timestamptz or date
	// expressions), for OGC datetime; empty: no time dimension.
	TimeStart, TimeEnd string
}

// key is the expression pages are ordered and keyed by.
func (c *Collection) key() string {
	if c.Key != "" {
		return c.Key
	}
	return c.IDExpr
}

// Property returns the named property.
func (c *Collection) Property(name string) (Property, bool) {
	for _, p := range c.Properties {
		if p.Name == name {
			return p, true
		}
	}
	return Property{}, false
}

// The zooms from which area tiles carry every property (Property.TileZoom).
const (
	VillageDetailZoom   = 10
	KecamatanDetailZoom = 8
)

var areaScoreProperties = []Property{
	{Name: "status", Type: "string", Description: "published, insufficient_data (under the minimum sample), withheld or no_data", Expr: "coalesce(s.status, 'no_data')", Filter: true, Sort: true,
		Enum: []string{"published", "insufficient_data", "withheld", "no_data"}},
	{Name: "households", Type: "integer", Description: "surveyed households (rounded to 5; null: withheld)", Expr: "s.households", Sort: true},
	{Name: "children", Type: "integer", Description: "surveyed children aged 5-17 (rounded to 5)", Expr: "s.children", Sort: true},
	{Name: "hazardous", Type: "integer", Description: "children in hazardous work", Expr: "s.hazardous", Sort: true},
	{Name: "child_labour", Type: "integer", Description: "children in child labour (not hazardous)", Expr: "s.child_labour", Sort: true},
	{Name: "light_work", Type: "integer", Description: "children aged 13-14 in permitted light work", Expr: "s.light_work", Sort: true},
	{Name: "prevalence", Type: "number", Description: "(hazardous + child_labour) / children", Expr: "round(s.prevalence::numeric, 4)", Sort: true},
	{Name: "mean_household_score", Type: "number", Description: "mean household score 0-100", Expr: "round(s.mean_household_score::numeric, 2)", Sort: true},
	{Name: "tobacco_share", Type: "number", Description: "share of the area under tobacco fields", Expr: "round(s.tobacco_share::numeric, 4)", Sort: true},
	{Name: "score", Type: "number", Description: "risk score 0-100, the sum of its published components (null: not published)", Expr: "round(s.score::numeric, 2)", Sort: true},
	{Name: "tier", Type: "string", Description: "low, medium, high, insufficient_data, withheld or no_data", Expr: "coalesce(s.tier, 'no_data')", Filter: true, Sort: true,
		Enum: []string{"low", "medium", "high", "insufficient_data", "withheld", "no_data"}},
	{Name: "monthly", Type: "array", Description: "seasonal score, January to December (also as m01..m12)", Expr: "s.monthly"},
}

// Collections lists every collection riskmap serves, in order.
func Collections() []*Collection {
	areaProps := append(append([]Property(nil), areaScoreProperties...), flatMonthly("s.monthly")...)
	villageProps := append([]Property{
		{Name: "code", Type: "string", Description: "Kemendagri desa code", Expr: "v.code", Filter: true, Sort: true},
		{Name: "name", Type: "string", Description: "village name", Expr: "v.name", Filter: true, Sort: true},
		{Name: "kecamatan_code", Type: "string", Description: "kecamatan code", Expr: "v.kecamatan_code", Filter: true, Sort: true},
		{Name: "kecamatan", Type: "string", Description: "kecamatan name", Expr: "k.name", Sort: true},
		{Name: "kabupaten_code", Type: "string", Description: "kabupaten code", Expr: "v.kabupaten_code", Filter: true, Sort: true},
		{Name: "area_km2", Type: "number", Description: "area in km2", Expr: "round((v.area_m2 / 1e6)::numeric, 3)", Sort: true},
		{Name: "eb_prevalence", Type: "number", Description: "prevalence smoothed toward the kecamatan rate (empirical Bayes; aggregates call it prevalence_smoothed)", Expr: "round(s.prevalence_smoothed::numeric, 4)", Sort: true},
		{Name: "institutions_missing", Type: "string", Description: "protective institutions the village lacks, comma-separated", Expr: "array_to_string(s.institutions_missing, ',')"},
		{Name: "components", Type: "object", Description: "points per indicator; they sum to score (also as c_*)", Expr: "s.components"},
		{Name: "hotspot", Type: "string", Description: "Gi* class: hot_99 ... cold_90, not_significant, no_neighbours (see the hotspots collection)", Expr: "h.class", Filter: true, Sort: true,
			Enum: hotspotClasses},
		{Name: "hotspot_fdr", Type: "string", Description: "Gi* class after the false-discovery-rate correction", Expr: "h.class_fdr", Filter: true, Sort: true,
			Enum: hotspotClasses},
		{Name: "score_low", Type: "number", Description: "the score with every survey-based component at the low end of its interval", Expr: "round(s.score_lo::numeric, 1)", Sort: true},
		{Name: "score_high", Type: "number", Description: "... at the high end", Expr: "round(s.score_hi::numeric, 1)", Sort: true},
	}, areaProps...)
	villageProps = append(villageProps, flatComponents("s.components", risk.VillageIndicators, "published; they sum to score")...)
	parentProps := func(level, table string) []Property {
		props := []Property{
			{Name: "code", Type: "string", Description: "Kemendagri " + level + " code", Expr: "a.code", Filter: true, Sort: true},
			{Name: "name", Type: "string", Description: level + " name", Expr: "a.name", Filter: true, Sort: true},
		}
		if table == "kecamatan" {
			props = append(props, Property{Name: "kabupaten_code", Type: "string", Description: "kabupaten code", Expr: "a.kabupaten_code", Filter: true, Sort: true})
		}
		return append(props, areaProps...)
	}
	var householdFlat []Property
	for i, n := range risk.HouseholdIndicators {
		householdFlat = append(householdFlat, Property{Name: "c_" + n, Type: "number", Description: "points from " + strings.ReplaceAll(n, "_", " "),
			// The weight is an uncorrelated subquery: PostgreSQL computes it
			// once per query (an InitPlan), not once per household.
			Expr: fmt.Sprintf("CASE WHEN hs.household_id IS NULL THEN NULL WHEN (hs.indicators::int & (1 << %d)) <> 0 THEN (SELECT k.points FROM score_component k WHERE k.bit = %d) ELSE 0 END", i, i), Sort: true})
	}
	// Lean tiles (TileZoom): a village tile under zoom 10 holds up to a few
	// thousand villages, a kecamatan tile under zoom 8 up to a few thousand
	// kecamatan at national size; they carry the area's code, name, status,
	// tier, score (and seasonal_score), the rest from those zooms on.
	lean := func(props []Property, zoom int) []Property {
		out := append([]Property(nil), props...)
		for i, p := range out {
			switch p.Name {
			case "code", "name", "status", "tier", "score":
			default:
				out[i].TileZoom = zoom
			}
		}
		return out
	}
	villageProps = lean(villageProps, VillageDetailZoom)
	return []*Collection{
		{ID: "kabupaten", Title: "Kabupaten", Description: "Regencies with their risk rollup",
			From:   "kabupaten a LEFT JOIN area_public s ON s.level = 'kabupaten' AND s.code = a.code",
			IDExpr: "a.code", Geom: "a.geom", GeometryType: "MultiPolygon", Properties: parentProps("kabupaten", "kabupaten"),
			Month: "s.monthly[$m]", TileLayer: "kabupaten"},
		{ID: "kecamatan", Title: "Kecamatan", Description: "Districts with their risk rollup",
			From:   "kecamatan a LEFT JOIN area_public s ON s.level = 'kecamatan' AND s.code = a.code",
			IDExpr: "a.code", Geom: "a.geom", GeometryType: "MultiPolygon", Properties: lean(parentProps("kecamatan", "kecamatan"), KecamatanDetailZoom),
			Month: "s.monthly[$m]", TileLayer: "kecamatan"},
		{ID: "villages", Title: "Villages (desa)", Description: "Villages with risk score, tier, components, seasonal curve and hotspot class",
			From: `village v LEFT JOIN kecamatan k ON k.code = v.kecamatan_code
				LEFT JOIN area_public s ON s.level = 'desa' AND s.code = v.code
				LEFT JOIN hotspot h ON h.village_code = v.code`,
			IDExpr: "v.code", Geom: "v.geom", GeometryType: "MultiPolygon", Properties: villageProps,
			Month: "s.monthly[$m]", TileLayer: "desa"},
		{ID: "plantations", Title: "Tobacco fields", Description: "Tobacco fields with variety and planting date",
			From: "plantation p", IDExpr: "p.id", Geom: "p.geom", GeometryType: "MultiPolygon", TileLayer: "plantation",
			Properties: []Property{
				{Name: "variety", Type: "string", Description: "tobacco variety", Expr: "p.variety", Filter: true, Sort: true},
				{Name: "planting_date", Type: "string", Description: "planting date (YYYY-MM-DD)", Expr: "p.planting_date", Sort: true},
				{Name: "village_code", Type: "string", Description: "village the field lies in", Expr: "p.village_code", Filter: true, Sort: true},
				{Name: "area_m2", Type: "number", Description: "area in m2", Expr: "round(p.area_m2::numeric)", Sort: true},
			}},
		{ID: "hotspots", Title: "Hotspots", Description: "Getis-Ord Gi* of village scores, per village",
			From: "hotspot h JOIN village v ON v.code = h.village_code", IDExpr: "h.village_code", Geom: "v.geom", GeometryType: "MultiPolygon", TileLayer: "desa",
			Properties: []Property{
				{Name: "name", Type: "string", Description: "village name", Expr: "v.name", Sort: true},
				{Name: "class", Type: "string", Description: "Gi*: hot or cold at two-sided p <= 0.01 (hot_99), 0.05 (_95), 0.10 (_90); not_significant; no_neighbours (not tested)", Expr: "h.class", Filter: true, Sort: true, Enum: hotspotClasses},
				{Name: "class_fdr", Type: "string", Description: "the same after the Benjamini-Hochberg false-discovery-rate correction over all tested villages", Expr: "h.class_fdr", Filter: true, Sort: true, Enum: hotspotClasses},
				{Name: "z", Type: "number", Description: "Gi* z-score", Expr: "round(h.z::numeric, 4)", Sort: true},
				{Name: "p", Type: "number", Description: "two-sided pseudo p-value (999 conditional permutations)", Expr: "round(h.p::numeric, 4)", Sort: true},
				{Name: "moran_class", Type: "string", Description: "local Moran's I at p <= 0.05: high_high or low_low (clusters), high_low or low_high (outliers), not_significant, no_neighbours", Expr: "h.moran_class", Filter: true, Sort: true,
					Enum: []string{"high_high", "low_low", "high_low", "low_high", "not_significant", "no_neighbours"}},
				{Name: "moran_i", Type: "number", Description: "local Moran's I (row-standardised weights)", Expr: "round(h.moran_i::numeric, 4)", Sort: true},
				{Name: "moran_p", Type: "number", Description: "its two-sided pseudo p-value", Expr: "round(h.moran_p::numeric, 4)", Sort: true},
				{Name: "value", Type: "number", Description: "the village score analysed", Expr: "round(h.value::numeric, 2)", Sort: true},
				{Name: "neighbours", Type: "integer", Description: "neighbouring villages", Expr: "h.neighbours", Sort: true},
			}},
		roundCollection("village_rounds", "Villages by survey round", "desa", "village v ON v.code = ra.code", "v"),
		roundCollection("kecamatan_rounds", "Kecamatan by survey round", "kecamatan", "kecamatan v ON v.code = ra.code", "v"),
		{ID: "households", Title: "Households", Description: "Surveyed households: personal data, for programme staff within their areas and admins; every response is audited",
			From: "household hh LEFT JOIN household_score hs ON hs.household_id = hh.id LEFT JOIN survey_round hr ON hr.id = hh.round_id", IDExpr: "hh.survey_uuid", Geom: "hh.geom", Base: "household hh",
			// Pages in import order: the scores are joined by household id, and
			// walking both tables in that order is a merge join; in survey_uuid
			// order each score was an index probe (10,000 households: 179 ms
			// against 271 ms at 1,000,000).
			Key: "hh.id", KeyInt: true,
			GeometryType: "Point", Private: true, AreaExpr: "hh.village_code",
			TimeStart: "coalesce(hh.submitted_at, hr.starts_on::timestamptz)", TimeEnd: "coalesce(hh.submitted_at, hr.starts_on::timestamptz)",
			Properties: append([]Property{
				{Name: "village_code", Type: "string", Description: "village from the GPS point", Expr: "hh.village_code", Filter: true, Sort: true},
				{Name: "round", Type: "string", Description: "the survey round the submission answered", Expr: "hh.round_id", Filter: true, Sort: true},
				{Name: "surveyed_on", Type: "string", Description: "date of the submission (the round's start when unknown)", Expr: "coalesce((hh.submitted_at AT TIME ZONE 'Asia/Jakarta')::date, hr.starts_on)", Sort: true},
				{Name: "programme_id", Type: "string", Description: "the household's programme card number (never a NIK)", Expr: "hh.programme_id", Filter: true, Sort: true},
				{Name: "household_identity", Type: "integer", Description: "the household across rounds: the same number in every round's submission", Expr: "hh.identity_id", Filter: true, Sort: true},
				{Name: "identity_rule", Type: "string", Description: "how the submission was matched to an earlier round: new, programme_id, place_and_children or ambiguous (kept new)", Expr: "hh.identity_rule", Filter: true, Sort: true,
					Enum: []string{"new", "programme_id", "place_and_children", "ambiguous"}},
				{Name: "latest", Type: "boolean", Description: "the household's latest submission (false: a later round surveyed it again)", Expr: "NOT EXISTS (SELECT 1 FROM household lh JOIN survey_round lr ON lr.id = lh.round_id WHERE lh.identity_id = hh.identity_id AND lr.starts_on > hr.starts_on)", Filter: true},
				{Name: "score", Type: "number", Description: "household score 0-100", Expr: "hs.score", Sort: true},
				{Name: "tier", Type: "string", Description: "low, medium or high", Expr: "hs.tier", Filter: true, Sort: true, Enum: []string{"low", "medium", "high"}},
				{Name: "top_tier_reason", Type: "string", Description: "the child that puts the household in the top tier", Expr: "hs.top_tier_reason"},
				{Name: "n_children", Type: "integer", Description: "children under 18 in the household", Expr: "CASE WHEN hs.household_id IS NULL THEN (SELECT count(*) FROM child c WHERE c.household_id = hh.id) ELSE hs.n_children END", Sort: true},
				{Name: "n_hazardous", Type: "integer", Description: "of them in hazardous work", Expr: "coalesce(hs.n_hazardous, 0)", Sort: true},
				{Name: "n_child_labour", Type: "integer", Description: "of them in child labour (not hazardous)", Expr: "coalesce(hs.n_child_labour, 0)", Sort: true},
				{Name: "components", Type: "object", Description: "points per indicator (also as c_*)", Expr: "CASE WHEN hs.household_id IS NOT NULL THEN household_components(hs.indicators) END"},
				{Name: "children", Type: "array", Description: "the household's children: age, sex, school, work, tasks, classification and its reason",
					Expr: `(SELECT coalesce(json_agg(json_build_object('ordinal', c.ordinal, 'age', c.age, 'sex', c.sex,
						'school_status', c.school_status, 'harvest_absence_days', c.harvest_absence_days, 'works', c.works,
						'work_hours_week', c.work_hours_week, 'work_hours_day', c.work_hours_day, 'tasks', c.tasks,
						'gts_symptoms', c.gts_symptoms, 'disability', c.disability, 'special_needs', c.special_needs,
						'orphan', c.orphan, 'classification', k.classification, 'reason', k.reason) ORDER BY c.ordinal), '[]')
						FROM child c LEFT JOIN child_class k USING (household_id, ordinal) WHERE c.household_id = hh.id)`},
			}, householdFlat...),
			Month: "round((hs.score * (SELECT labour_index[$m] FROM score_calendar c WHERE c.variety = hs.variety))::numeric, 2)"},
	}
}

// roundCollection serves round_area for one level: every round's published
// figures and the change since the previous round, with the round's dates
// as the features' time (OGC datetime).
func roundCollection(id, title, level, join, alias string) *Collection {
	return &Collection{ID: id, Title: title,
		Description: "Published child-labour figures of every survey round and the change since the previous round, with its interval; small counts withheld as everywhere",
		From:        "round_area ra JOIN survey_round r ON r.id = ra.round_id JOIN " + join + " AND ra.level = '" + level + "'",
		IDExpr:      "ra.round_id || '/' || ra.code", Geom: alias + ".geom", GeometryType: "MultiPolygon",
		TimeStart: "r.starts_on", TimeEnd: "r.ends_on + interval '1 day' - interval '1 microsecond'",
		Properties: []Property{
			{Name: "round", Type: "string", Description: "survey round", Expr: "ra.round_id", Filter: true, Sort: true},
			{Name: "round_label", Type: "string", Description: "its label", Expr: "r.label"},
			{Name: "round_start", Type: "string", Description: "first day of the round", Expr: "r.starts_on", Sort: true},
			{Name: "round_end", Type: "string", Description: "last day of the round", Expr: "r.ends_on", Sort: true},
			{Name: "code", Type: "string", Description: "Kemendagri code", Expr: "ra.code", Filter: true, Sort: true},
			{Name: "name", Type: "string", Description: "name", Expr: alias + ".name", Sort: true},
			{Name: "status", Type: "string", Description: "published, insufficient_data or no_data in this round", Expr: "ra.status", Filter: true, Sort: true,
				Enum: []string{"published", "insufficient_data", "no_data"}},
			{Name: "households", Type: "integer", Description: "surveyed households (rounded to 5; null: withheld)", Expr: "ra.households", Sort: true},
			{Name: "children", Type: "integer", Description: "surveyed children aged 5-17 (rounded)", Expr: "ra.children", Sort: true},
			{Name: "hazardous", Type: "integer", Description: "children in hazardous work (rounded)", Expr: "ra.hazardous", Sort: true},
			{Name: "child_labour", Type: "integer", Description: "children in child labour, not hazardous (rounded)", Expr: "ra.child_labour", Sort: true},
			{Name: "prevalence", Type: "number", Description: "(hazardous + child_labour) / children, from the published counts", Expr: "round(ra.prevalence::numeric, 4)", Sort: true},
			{Name: "prev_lo", Type: "number", Description: "the prevalence's Jeffreys interval, lower end", Expr: "round(ra.prevalence_lo::numeric, 4)"},
			{Name: "prev_hi", Type: "number", Description: "its upper end", Expr: "round(ra.prevalence_hi::numeric, 4)"},
			{Name: "previous_round", Type: "string", Description: "the round the change is measured from", Expr: "ra.previous_round"},
			{Name: "change", Type: "number", Description: "prevalence minus the previous round's (null: either withheld)", Expr: "round(ra.change::numeric, 4)", Sort: true},
			{Name: "change_lo", Type: "number", Description: "its interval, lower end (the round's clustering, the children surveyed in both rounds and the counts' rounding included)", Expr: "round(ra.change_lo::numeric, 4)"},
			{Name: "change_hi", Type: "number", Description: "upper end", Expr: "round(ra.change_hi::numeric, 4)"},
			{Name: "change_significant", Type: "boolean", Description: "the interval excludes zero: the change exceeds its uncertainty", Expr: "ra.change_significant", Filter: true, Sort: true},
			{Name: "change_design_effect", Type: "number", Description: "the change's variance over that of independent rounds: below 1 where the round shares children with the previous one (the panel)", Expr: "round(ra.change_design_effect::numeric, 3)"},
		}}
}

var hotspotClasses = []string{"hot_99", "hot_95", "hot_90", "cold_99", "cold_95", "cold_90", "not_significant", "no_neighbours"}

// Scope is whom a query of household-level data (a private collection)
// reads for: every area (All: an admin; a planner's geomasked points) or a
// staff key's areas (kecamatan or village codes). It must be said: a query
// of a private collection with no Scope, or an empty one, matches nothing
// rather than everything, so a handler that forgets it leaks nothing.
// Public collections ignore it.
type Scope struct {
	All   bool
	Areas []string
}

// ItemsQuery is a validated request for a page of features.
type ItemsQuery struct {
	Collection *Collection
	BBox       *[4]float64 // the four numbers of bbox, in BBoxSRID's axis order
	BBoxSRID   int         // 0: CRS84 (lon, lat); 4326: EPSG:4326 (lat, lon); 32749: UTM 49S (metres)
	SRID       int         // the response's CRS: 0 (CRS84), 4326 (lat, lon order) or 32749
	Limit      int
	Offset     int
	Properties []string // nil: all
	SortBy     []SortKey
	Filters    map[string]string
	Month      int // 0: none
	ID         string
	Filter     Filter // a compiled CQL2 filter, or nil
	// After pages by key: the features whose id comes after this one, in
	// id order (with no sortby). A page then costs what the first page
	// costs, however deep: the id's index finds where to start.
	After string
	// Peek fetches one feature more than Limit, to tell whether a next page
	// exists (StreamFeatures reports it and does not write it).
	Peek bool
	// CSVGeometry adds the geometry (WKT) to CSV rows; without it a CSV is
	// the table a spreadsheet opens, not 30 KB polygons per cell.
	CSVGeometry bool
	// Scope is whom a query of a private collection reads for. A private
	// query without one reads nothing (see Scope).
	Scope *Scope
	// TimeFrom and TimeTo are OGC datetime's interval (nil: open ends):
	// features whose time intersects it.
	TimeFrom, TimeTo *time.Time
	// start is the key the page starts at (inclusive), found from Offset
	// by StartKey: the page then costs what the first page does.
	start any
}

// StartKeySQL returns the query that finds the key an offset page starts
// at (an index-only scan when nothing filters the page), and whether q
// needs it: an offset in key order. A sorted page keeps SQL's OFFSET.
func (q *ItemsQuery) StartKeySQL() (string, []any, bool) {
	if q.Offset <= 0 || len(q.SortBy) > 0 || q.After != "" || q.start != nil {
		return "", nil, false
	}
	c := q.Collection
	where, args := q.where()
	from := c.From
	if where == "" && c.Base != "" {
		from = c.Base
	}
	key := c.key()
	offset := args.add(q.Offset)
	return "SELECT " + key + " FROM " + from + where + " ORDER BY " + key + " OFFSET " + offset + " LIMIT 1", args, true
}

// startAt resolves an offset page to the key it starts at: a copy of q
// that pages from that key, or nil when the offset is past the end.
//
// The key is a constant of the page's query, not a subquery of it: given
// a subquery's value only when it runs, the planner took a merge join of
// households and their scores for 101 rows and walked 900,000 scores to
// reach the page (1.4 s; 25 ms with the key known).
func (st *Store) startAt(ctx context.Context, q *ItemsQuery) (*ItemsQuery, error) {
	sql, args, ok := q.StartKeySQL()
	if !ok {
		return q, nil
	}
	var k any
	if err := st.db.Reader().QueryRow(ctx, sql, args...).Scan(&k); err == pgx.ErrNoRows {
		return nil, nil
	} else if err != nil {
		return nil, core.Wrap(err)
	}
	return q.StartingAt(k), nil
}

// StartingAt is q paging from key (inclusive) instead of its offset: the
// page's query once StartKeySQL has found the key.
func (q *ItemsQuery) StartingAt(key any) *ItemsQuery {
	r := *q
	r.start, r.Offset = key, 0
	return &r
}

// SortKey is one sortby entry.
type SortKey struct {
	Property string
	Desc     bool
}

// build returns the WHERE clause and its arguments, and the select list.
func (q *ItemsQuery) where() (string, sqlArgs) {
	var conds []string
	var args sqlArgs
	arg := args.add
	c := q.Collection
	if c.Where != "" {
		conds = append(conds, c.Where)
	}
	if q.BBox != nil {
		b := q.BBox
		var env string
		switch q.BBoxSRID {
		case 4326: // latitude first
			env = fmt.Sprintf("ST_MakeEnvelope(%s, %s, %s, %s, 4326)", arg(b[1]), arg(b[0]), arg(b[3]), arg(b[2]))
		case 32749:
			env = fmt.Sprintf("ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 32749), 4326)", arg(b[0]), arg(b[1]), arg(b[2]), arg(b[3]))
		default:
			env = fmt.Sprintf("ST_MakeEnvelope(%s, %s, %s, %s, 4326)", arg(b[0]), arg(b[1]), arg(b[2]), arg(b[3]))
		}
		conds = append(conds, c.Geom+" && "+env+" AND ST_Intersects("+c.Geom+", "+env+")")
	}
	names := make([]string, 0, len(q.Filters))
	for n := range q.Filters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p, _ := c.Property(n)
		conds = append(conds, "("+p.Expr+")::text = "+arg(q.Filters[n]))
	}
	if q.ID != "" {
		conds = append(conds, "("+c.IDExpr+")::text = "+arg(q.ID))
	}
	if q.Filter != nil {
		conds = append(conds, q.Filter(arg))
	}
	if c.TimeStart != "" {
		if q.TimeFrom != nil {
			conds = append(conds, "("+c.TimeEnd+")::timestamptz >= "+arg(*q.TimeFrom))
		}
		if q.TimeTo != nil {
			conds = append(conds, "("+c.TimeStart+")::timestamptz <= "+arg(*q.TimeTo))
		}
	}
	if c.Private {
		switch s := q.Scope; {
		case s == nil || !s.All && len(s.Areas) == 0:
			conds = append(conds, "false") // no scope said: nothing
		case !s.All:
			a := arg(s.Areas)
			conds = append(conds, "EXISTS (SELECT 1 FROM unnest("+a+"::text[]) area WHERE "+c.AreaExpr+" = area OR "+c.AreaExpr+" LIKE area || '.%')")
		}
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// andWhere adds a condition to a WHERE clause ("" or " WHERE ...").
func andWhere(where, cond string) string {
	if where == "" {
		return " WHERE " + cond
	}
	return where + " AND " + cond
}

// selected returns the properties to output.
func (q *ItemsQuery) selected() []Property {
	c := q.Collection
	if q.Properties == nil && q.ID != "" {
		return c.Properties // one feature is a record: everything, nested fields too
	}
	if q.Properties == nil {
		var out []Property
		for _, p := range c.Properties {
			if !p.Nested() {
				out = append(out, p)
			}
		}
		return out
	}
	var out []Property
	for _, n := range q.Properties {
		if p, ok := c.Property(n); ok {
			out = append(out, p)
		}
	}
	return out
}

// featureSQL returns the query that yields one GeoJSON feature per row, and
// its arguments.
func (q *ItemsQuery) featureSQL(csv bool) (string, []any) {
	where, args := q.where()
	c := q.Collection
	month := ""
	if q.Month > 0 && c.Month != "" {
		month = strings.ReplaceAll(c.Month, "$m", args.add(q.Month))
	}
	var sel []string
	var named []string
	for _, p := range q.selected() {
		named = append(named, p.Expr+" AS "+pgx.Identifier{p.Name}.Sanitize())
		sel = append(sel, p.Expr)
	}
	if month != "" {
		named = append(named, month+` AS "seasonal_score"`)
		sel = append(sel, month)
	}
	var order []string
	for _, s := range q.SortBy {
		p, _ := c.Property(s.Property)
		dir := " ASC NULLS FIRST"
		if s.Desc {
			dir = " DESC NULLS LAST"
		}
		order = append(order, p.Expr+dir)
	}
	key := c.key()
	order = append(order, key)
	if q.After != "" {
		var after any = q.After
		if c.KeyInt {
			n, err := strconv.ParseInt(q.After, 10, 64)
			if err != nil {
				n = math.MaxInt64 // not a key of ours (params.go refuses it first): nothing follows it
			}
			after = n
		}
		where = andWhere(where, key+" > "+args.add(after))
	}
	offset := q.Offset
	if q.start != nil {
		// OFFSET would build (and drop) every skipped feature: PostgreSQL
		// projects below the Limit. The first key of the page was found by
		// its index instead (startAt), and the page is read by key from
		// there: a page 900,000 deep then costs what the first does, plus
		// walking the key index.
		where = andWhere(where, key+" >= "+args.add(q.start))
		offset = 0
	}
	limit := q.Limit
	if q.Peek {
		limit++
	}
	page := " ORDER BY " + strings.Join(order, ", ") + " LIMIT " + args.add(limit) + " OFFSET " + args.add(offset)
	if csv {
		cols := append([]string{"(" + c.IDExpr + ")::text"}, sel...)
		if q.CSVGeometry {
			cols = append(cols, "ST_AsText("+q.geomIn(c.Geom)+")")
		}
		return "SELECT " + strings.Join(cols, ", ") + " FROM " + c.From + where + page, args
	}
	// The properties are one row turned into JSON (row_to_json of a
	// LATERAL row, which PostgreSQL flattens into the query): a third less
	// work per value than json_build_object's pairs.
	props, from := "'{}'", c.From
	if len(named) > 0 {
		props, from = "row_to_json(feature_props)::text", c.From+", LATERAL (SELECT "+strings.Join(named, ", ")+") feature_props"
	}
	return `SELECT '{"type":"Feature","id":' || to_json(` + c.IDExpr + `)::text || ',"geometry":' ||
		coalesce(ST_AsGeoJSON(` + q.geomIn(c.Geom) + `, ` + q.digits() + `), 'null') || ',"properties":' || ` + props + ` || '}',
		(` + key + `)::text
		FROM ` + from + where + page, args
}

// geomIn is the geometry expression in the response's CRS. EPSG:4326 is
// stored; its axis order is latitude first, so CRS84's coordinates flip.
func (q *ItemsQuery) geomIn(g string) string {
	switch q.SRID {
	case 4326:
		return "ST_FlipCoordinates(" + g + ")"
	case 32749:
		return "ST_Transform(" + g + ", 32749)"
	}
	return g
}

// digits is the coordinate precision: 6 decimals of a degree (0.1 m), or
// 2 decimals of a metre.
func (q *ItemsQuery) digits() string {
	if q.SRID == 32749 {
		return "2"
	}
	return "6"
}

// FeatureSQL is the query the API streams for q, for benchmarks that compare
// the service with the raw query.
func (q *ItemsQuery) FeatureSQL() (string, []any) { return q.featureSQL(false) }

// CountItems returns how many features match q, ignoring paging.
func (st *Store) CountItems(ctx context.Context, q *ItemsQuery) (int, error) {
	sql, args := q.CountSQL()
	var n int
	err := st.db.Reader().QueryRow(ctx, sql, args...).Scan(&n)
	return n, core.Wrap(err)
}

// PageCount returns how many features the page q asks for holds: for a
// page by key (After), those after the key, at most Limit; otherwise
// Limit bounded by what matched past Offset. It is what a household
// page's audit entry records, before a byte of the page is sent.
func (st *Store) PageCount(ctx context.Context, q *ItemsQuery, matched int) (int, error) {
	if q.After == "" {
		return max(0, min(q.Limit, matched-q.Offset)), nil
	}
	where, args := q.where()
	c := q.Collection
	var after any = q.After
	if c.KeyInt {
		n, err := strconv.ParseInt(q.After, 10, 64)
		if err != nil {
			return 0, nil // not a key of ours: nothing follows it (as in featureSQL)
		}
		after = n
	}
	where = andWhere(where, c.key()+" > "+args.add(after))
	limit := args.add(q.Limit)
	var n int
	err := st.db.Reader().QueryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM "+c.From+where+" LIMIT "+limit+") page", args...).Scan(&n)
	return n, core.Wrap(err)
}

// CountSQL is the query CountItems runs, and its arguments: what a count
// kept for reuse is keyed by.
func (q *ItemsQuery) CountSQL() (string, []any) {
	where, args := q.where()
	return "SELECT count(*) FROM " + q.Collection.From + where, args
}

// StreamFeatures writes the matching features, comma-separated, as PostGIS
// builds them. start is called once the query has answered, before any byte
// is written; it returns the writer to use. It returns how many it wrote.
func (st *Store) StreamFeatures(ctx context.Context, q *ItemsQuery, start func() io.Writer) (int, error) {
	p, err := st.StreamPage(ctx, q, start)
	return p.N, err
}

// Page is what StreamPage wrote: how many features, the id of the last,
// and (with Peek) whether more follow.
type Page struct {
	N    int
	Last string
	More bool
}

// StreamPage is StreamFeatures that also reports the page's last id and,
// when q.Peek, whether another page follows.
func (st *Store) StreamPage(ctx context.Context, q *ItemsQuery, start func() io.Writer) (Page, error) {
	var pg Page
	q, err := st.startAt(ctx, q)
	if err != nil {
		return pg, err
	}
	if q == nil { // past the end
		return pg, nil
	}
	sql, args := q.featureSQL(false)
	rows, err := st.db.Reader().Query(ctx, sql, args...)
	if err != nil {
		return pg, core.Wrap(err)
	}
	defer rows.Close()
	var w io.Writer
	n := 0
	buf := make([]byte, 0, 64<<10)
	for rows.Next() {
		if q.Peek && n == q.Limit {
			pg.More = true
			break
		}
		if w == nil {
			w = start()
		}
		pg.Last = string(rows.RawValues()[1])
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, rows.RawValues()[0]...)
		n++
		pg.N = n
		if len(buf) > 48<<10 {
			if _, err := w.Write(buf); err != nil {
				return pg, err
			}
			buf = buf[:0]
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return pg, core.Wrap(err)
	}
	if w == nil {
		w = start()
	}
	_, err = w.Write(buf)
	return pg, err
}

// StreamRows yields each matching feature as text columns (id, properties...,
// WKT geometry) for CSV; header names the columns.
func (st *Store) StreamRows(ctx context.Context, q *ItemsQuery, header func([]string), row func([]string) error) error {
	from, err := st.startAt(ctx, q)
	if err != nil {
		return err
	}
	if from == nil { // past the end: the header alone
		none := *q
		none.Offset, none.Limit, none.Peek = 0, 0, false
		from = &none
	}
	q = from
	sql, args := q.featureSQL(true)
	rows, err := st.db.Reader().Query(ctx, sql, args...)
	if err != nil {
		return core.Wrap(err)
	}
	defer rows.Close()
	names := []string{"id"}
	for _, p := range q.selected() {
		names = append(names, p.Name)
	}
	if q.Month > 0 && q.Collection.Month != "" {
		names = append(names, "seasonal_score")
	}
	if q.CSVGeometry {
		names = append(names, "wkt")
	}
	header(names)
	rec := make([]string, len(names))
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		for i, v := range vals {
			rec[i] = textOf(v)
		}
		if err := row(rec); err != nil {
			return err
		}
	}
	return core.Wrap(rows.Err())
}

func textOf(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		s := string(b)
		return strings.Trim(s, `"`)
	}
}

// Extent returns the bounding box of the features of q's collection that q
// may see (its Scope), ignoring paging.
func (st *Store) Extent(ctx context.Context, q *ItemsQuery) ([4]float64, bool, error) {
	var b [4]*float64
	where, args := q.where()
	err := st.db.Reader().QueryRow(ctx, `SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(`+q.Collection.Geom+`) AS e FROM `+q.Collection.From+where+`) x`, args...).
		Scan(&b[0], &b[1], &b[2], &b[3])
	if err != nil {
		return [4]float64{}, false, core.Wrap(err)
	}
	if b[0] == nil {
		return [4]float64{}, false, nil
	}
	return [4]float64{*b[0], *b[1], *b[2], *b[3]}, true, nil
}

// DataVersion changes whenever an import, a scoring run or an erasure
// commits: the basis of the API's ETags and of what the service caches.
func (st *Store) DataVersion(ctx context.Context) (string, error) {
	var imp, score, erased, generation, release int64
	err := st.db.Reader().QueryRow(ctx, `SELECT (SELECT coalesce(max(id), 0) FROM import_run), (SELECT coalesce(max(id), 0) FROM score_run),
		(SELECT coalesce(max(id), 0) FROM erasure), (SELECT generation FROM map_state), (SELECT coalesce(max(id), 0) FROM release)`).Scan(&imp, &score, &erased, &generation, &release)
	if err != nil {
		return "", core.Wrap(err)
	}
	return fmt.Sprintf("i%d.s%d.e%d.g%d.r%d", imp, score, erased, generation, release), nil
}

// GenerationOf returns the map generation (map_state, migration 022) a
// data version (DataVersion) was read at; 0 when it names none.
func GenerationOf(version string) int64 {
	i := strings.LastIndex(version, ".g")
	if i < 0 {
		return 0
	}
	rest, _, _ := strings.Cut(version[i+2:], ".")
	g, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return 0
	}
	return g
}

// ReleaseOf returns the release a data version (DataVersion) serves.
func ReleaseOf(version string) string {
	i := strings.LastIndex(version, ".r")
	if i < 0 {
		return ""
	}
	return version[i+2:]
}

// Geomasking distances for planners' household points: donut displacement
// inside the household's own village (villages here are 1-5 km2, so the
// survey-style 2-5 km would throw points out of the village). The points
// are computed at scoring time (maskHouseholds in publish.go).
const (
	MaskMinMetres = 100
	MaskMaxMetres = 500
)

// MaskedHouseholds is the households collection as planners see it:
// household_mask, points displaced by a keyed hash at scoring time, ids
// that are another keyed hash, only in villages whose household count is
// published, and no field derived from the household's children or scores.
func MaskedHouseholds() *Collection {
	return &Collection{ID: "households", Title: "Households (geomasked)",
		Description: "Surveyed households with displaced points (100-500 m, inside their village), in villages whose figures are published; every response is audited",
		From:        "household_mask hm", Where: "hm.shown",
		IDExpr: "hm.mask_id", Geom: "hm.geom", GeometryType: "Point", Private: true, AreaExpr: "hm.village_code",
		Properties: []Property{
			{Name: "village_code", Type: "string", Description: "village", Expr: "hm.village_code", Filter: true, Sort: true},
		}}
}
