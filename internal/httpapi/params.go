package httpapi

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kesempatan/riskmap/internal/cql2"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Limits of the items endpoint.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
	CRS84        = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
	EPSG4326     = "http://www.opengis.net/def/crs/EPSG/0/4326"
	EPSG32749    = "http://www.opengis.net/def/crs/EPSG/0/32749" // UTM 49S, what Indonesian surveyors use here
)

// crsList is every CRS the collections can be served in (OGC API -
// Features Part 2), the storage CRS first.
var crsList = []string{CRS84, EPSG4326, EPSG32749}

// parseCRS reads a CRS URI (or its EPSG:n / [EPSG:n] short form).
func parseCRS(param, v string) (srid int, uri string, err error) {
	switch strings.Trim(strings.TrimSpace(v), "[]") {
	case CRS84, "OGC:CRS84", "CRS84":
		return 0, CRS84, nil
	case EPSG4326, "EPSG:4326":
		return 4326, EPSG4326, nil
	case EPSG32749, "EPSG:32749":
		return 32749, EPSG32749, nil
	}
	return 0, "", badParam(param, "%q is not offered: use %s", v, strings.Join(crsList, ", "))
}

// crsURI is the URI of a response SRID.
func crsURI(srid int) string {
	switch srid {
	case 4326:
		return EPSG4326
	case 32749:
		return EPSG32749
	}
	return CRS84
}

// paramError is a bad query parameter: a 400 naming it.
type paramError struct {
	param, detail string
}

func (e *paramError) Error() string { return e.param + ": " + e.detail }

// intQuery reads a whole-number query parameter the route's guard has
// already checked against its spec: def when absent.
func intQuery(q url.Values, name string, def int) int {
	n, err := strconv.Atoi(q.Get(name))
	if err != nil {
		return def
	}
	return n
}

func badParam(param, format string, args ...any) *paramError {
	return &paramError{param: param, detail: fmt.Sprintf(format, args...)}
}

// itemsParams are the parameters the items endpoint knows besides property filters.
var itemsParams = map[string]bool{"bbox": true, "bbox-crs": true, "limit": true, "offset": true, "properties": true,
	"sortby": true, "month": true, "f": true, "datetime": true, "crs": true, "filter": true, "filter-lang": true, "filter-crs": true, "geometry": true, "after": true}

// parseItems validates an items request. clamped reports a limit above the maximum.
func parseItems(c *postgres.Collection, v url.Values) (q *postgres.ItemsQuery, clamped int, err error) {
	q = &postgres.ItemsQuery{Collection: c, Limit: DefaultLimit, Filters: map[string]string{}}
	for name, vals := range v {
		if itemsParams[name] {
			if len(vals) > 1 {
				return nil, 0, badParam(name, "given %d times; give it once", len(vals))
			}
			continue
		}
		p, ok := c.Property(name)
		if !ok {
			return nil, 0, badParam(name, "unknown parameter: not a parameter of this endpoint nor a property of collection %s", c.ID)
		}
		if !p.Filter {
			return nil, 0, badParam(name, "property %s cannot be used as a filter", name)
		}
		if len(vals) != 1 || len(vals[0]) > 200 {
			return nil, 0, badParam(name, "give one value of at most 200 characters")
		}
		if p.Enum != nil && !slices.Contains(p.Enum, vals[0]) {
			return nil, 0, badParam(name, "%q is not one of %s (values are lower case)", vals[0], strings.Join(p.Enum, ", "))
		}
		q.Filters[name] = vals[0]
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, 0, badParam("limit", "%q is not a positive whole number", s)
		}
		if n > MaxLimit {
			clamped, n = n, MaxLimit
		}
		q.Limit = n
	}
	if s := v.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 100_000_000 {
			return nil, 0, badParam("offset", "%q is not a whole number from 0", s)
		}
		q.Offset = n
	}
	if s := v.Get("filter"); s != "" {
		switch lang := v.Get("filter-lang"); lang {
		case "", "cql2-text", "cql-text": // cql-text: the draft name GDAL 3.6 sends
		default:
			return nil, 0, badParam("filter-lang", "%q is not supported: use cql2-text", lang)
		}
		if fc := v.Get("filter-crs"); fc != "" && fc != CRS84 {
			return nil, 0, badParam("filter-crs", "only %s: spatial literals are longitude, latitude", CRS84)
		}
		e, perr := cql2.Parse(s)
		if perr != nil {
			return nil, 0, badParam("filter", "not CQL2 text: %v", perr)
		}
		f, cerr := postgres.CompileFilter(c, e)
		if cerr != nil {
			return nil, 0, badParam("filter", "%s", risk.ErrorMessage(cerr))
		}
		q.Filter = f
	} else if v.Get("filter-lang") != "" || v.Get("filter-crs") != "" {
		return nil, 0, badParam("filter-lang", "given without filter")
	}
	if a := v.Get("after"); a != "" {
		if len(a) > 200 {
			return nil, 0, badParam("after", "at most 200 characters")
		}
		if v.Get("sortby") != "" || v.Get("offset") != "" {
			return nil, 0, badParam("after", "pages in key order: give it without sortby and offset (the next links carry it)")
		}
		if _, err := strconv.ParseInt(a, 10, 64); c.KeyInt && err != nil {
			return nil, 0, badParam("after", "%q is not a key of %s: take it from a next link", a, c.ID)
		}
		q.After = a
	}
	switch g := v.Get("geometry"); g {
	case "":
	case "wkt":
		q.CSVGeometry = true
	default:
		return nil, 0, badParam("geometry", "%q: the only choice is wkt (adds the geometry to CSV)", g)
	}
	if s := v.Get("crs"); s != "" {
		if q.SRID, _, err = parseCRS("crs", s); err != nil {
			return nil, 0, err
		}
	}
	if s := v.Get("bbox-crs"); s != "" {
		if q.BBoxSRID, _, err = parseCRS("bbox-crs", s); err != nil {
			return nil, 0, err
		}
		if v.Get("bbox") == "" {
			return nil, 0, badParam("bbox-crs", "given without bbox")
		}
	}
	if s := v.Get("bbox"); s != "" {
		b, perr := parseBBox(s, q.BBoxSRID)
		if perr != nil {
			return nil, 0, perr
		}
		q.BBox = &b
	}
	if s := v.Get("datetime"); s != "" {
		if c.TimeStart == "" {
			return nil, 0, badParam("datetime", "collection %s has no time dimension (it shows the latest scored round); village_rounds, kecamatan_rounds and households do", c.ID)
		}
		if q.TimeFrom, q.TimeTo, err = parseDatetime(s); err != nil {
			return nil, 0, err
		}
	}
	if s := v.Get("month"); s != "" {
		m, err := strconv.Atoi(s)
		if err != nil || m < 1 || m > 12 {
			return nil, 0, badParam("month", "%q is not a month 1..12", s)
		}
		if c.Month == "" {
			return nil, 0, badParam("month", "collection %s has no seasonal values", c.ID)
		}
		q.Month = m
	}
	if s := v.Get("properties"); s != "" {
		q.Properties = []string{}
		for _, n := range strings.Split(s, ",") {
			n = strings.TrimSpace(n)
			if _, ok := c.Property(n); !ok {
				return nil, 0, badParam("properties", "unknown property %q of collection %s", n, c.ID)
			}
			q.Properties = append(q.Properties, n)
		}
	}
	if s := v.Get("sortby"); s != "" {
		for _, n := range strings.Split(s, ",") {
			n = strings.TrimSpace(n)
			k := postgres.SortKey{Property: strings.TrimLeft(n, "+-"), Desc: strings.HasPrefix(n, "-")}
			p, ok := c.Property(k.Property)
			if !ok || !p.Sort {
				return nil, 0, badParam("sortby", "cannot sort collection %s by %q", c.ID, k.Property)
			}
			q.SortBy = append(q.SortBy, k)
		}
	}
	return q, clamped, nil
}

// parseBBox reads the four numbers of a bbox in the axis order of its CRS:
// CRS84 minLon,minLat,maxLon,maxLat; EPSG:4326 minLat,minLon,maxLat,maxLon;
// EPSG:32749 minE,minN,maxE,maxN (metres).
func parseBBox(s string, srid int) ([4]float64, *paramError) {
	var b [4]float64
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return b, badParam("bbox", "want 4 numbers minLon,minLat,maxLon,maxLat; got %d values", len(parts))
	}
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return b, badParam("bbox", "%q is not a number", p)
		}
		b[i] = f
	}
	switch srid {
	case 32749:
		if b[0] > b[2] || b[1] > b[3] {
			return b, badParam("bbox", "minimum above maximum (easting, northing in metres)")
		}
		return b, nil
	case 4326:
		b = [4]float64{b[1], b[0], b[3], b[2]} // check as lon/lat, keep the caller's order below
		if _, perr := parseBBox(fmt.Sprintf("%v,%v,%v,%v", b[0], b[1], b[2], b[3]), 0); perr != nil {
			return b, badParam("bbox", "with bbox-crs EPSG:4326 the order is minLat,minLon,maxLat,maxLon: %s", perr.detail)
		}
		return [4]float64{b[1], b[0], b[3], b[2]}, nil
	}
	if b[0] < -180 || b[2] > 180 || b[0] > 180 || b[2] < -180 {
		return b, badParam("bbox", "longitudes must be within -180..180")
	}
	if b[1] < -90 || b[3] > 90 || b[1] > 90 || b[3] < -90 {
		return b, badParam("bbox", "latitudes must be within -90..90")
	}
	if b[1] > b[3] {
		return b, badParam("bbox", "minimum latitude %g is above the maximum %g", b[1], b[3])
	}
	if b[0] > b[2] {
		return b, badParam("bbox", "boxes across the antimeridian are not supported")
	}
	return b, nil
}

// parseDatetime reads OGC API - Features' datetime: an instant (a date or
// an RFC 3339 date-time) or an interval "start/end" whose ends may be
// open (".." or empty). A date as an instant or an interval's end means
// the whole day.
func parseDatetime(s string) (from, to *time.Time, err error) {
	parse := func(part string, end bool) (*time.Time, error) {
		if part == "" || part == ".." {
			return nil, nil
		}
		if t, err := time.Parse(time.RFC3339, part); err == nil {
			return &t, nil
		}
		t, err := time.Parse(time.DateOnly, part)
		if err != nil {
			return nil, badParam("datetime", "%q is not a date (2026-09-01) or an RFC 3339 date-time (2026-09-01T08:00:00Z)", part)
		}
		if end {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		return &t, nil
	}
	a, b, interval := strings.Cut(s, "/")
	if !interval {
		if a == ".." || a == "" {
			return nil, nil, badParam("datetime", "an instant cannot be open (..)")
		}
		if from, err = parse(a, false); err != nil {
			return nil, nil, err
		}
		if to, err = parse(a, true); err != nil {
			return nil, nil, err
		}
		if len(a) > len(time.DateOnly) {
			to = from
		}
		return from, to, nil
	}
	if (a == "" || a == "..") && (b == "" || b == "..") {
		return nil, nil, badParam("datetime", "an interval needs at least one end")
	}
	if from, err = parse(a, false); err != nil {
		return nil, nil, err
	}
	if to, err = parse(b, true); err != nil {
		return nil, nil, err
	}
	if from != nil && to != nil && to.Before(*from) {
		return nil, nil, badParam("datetime", "the interval ends (%s) before it starts (%s)", b, a)
	}
	return from, to, nil
}
