package httpapi

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// Limits of the items endpoint.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
	CRS84        = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
)

// paramError is a bad query parameter: a 400 naming it.
type paramError struct {
	param, detail string
}

func (e *paramError) Error() string { return e.param + ": " + e.detail }

func badParam(param, format string, args ...any) *paramError {
	return &paramError{param: param, detail: fmt.Sprintf(format, args...)}
}

// itemsParams are the parameters the items endpoint knows besides property filters.
var itemsParams = map[string]bool{"bbox": true, "bbox-crs": true, "limit": true, "offset": true, "properties": true,
	"sortby": true, "month": true, "f": true, "datetime": true}

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
	if s := v.Get("bbox-crs"); s != "" && s != CRS84 {
		return nil, 0, badParam("bbox-crs", "only %s is supported", CRS84)
	}
	if s := v.Get("bbox"); s != "" {
		b, perr := parseBBox(s)
		if perr != nil {
			return nil, 0, perr
		}
		q.BBox = &b
	}
	if s := v.Get("datetime"); s != "" {
		return nil, 0, badParam("datetime", "no collection here has a time dimension")
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

// parseBBox reads minx,miny,maxx,maxy in CRS84.
func parseBBox(s string) ([4]float64, *paramError) {
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
