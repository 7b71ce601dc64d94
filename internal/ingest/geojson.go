package ingest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/kesempatan/riskmap/internal/risk"
)

// Area is one polygon feature read from a GeoJSON file.
type Area struct {
	Index int // position in the file's features, from 0
	Geom  orb.MultiPolygon
	Note  string // what the reader fixed (a ring it closed), if anything
	Raw   string
}

// BoundaryFeature is an administrative area read from GeoJSON.
type BoundaryFeature struct {
	Area
	risk.Boundary
}

// BoundaryOptions name the GeoJSON properties that hold the code, the name and
// the parent code. The defaults are those of ../shared/geodata.
type BoundaryOptions struct {
	Level      string
	CodeProp   string // default "code"
	NameProp   string // default "name"
	ParentProp string // default "kecamatan_code" for desa, "kabupaten_code" for kecamatan
}

var codePattern = map[string]*regexp.Regexp{
	"kabupaten": regexp.MustCompile(`^[0-9]{2}\.[0-9]{2}$`),
	"kecamatan": regexp.MustCompile(`^[0-9]{2}\.[0-9]{2}\.[0-9]{2}$`),
	"desa":      regexp.MustCompile(`^[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}$`),
}

// ReadBoundaries reads a GeoJSON FeatureCollection of one administrative level.
// Features it cannot use come back as problems; the error is for a file that
// is not a FeatureCollection at all.
func ReadBoundaries(r io.Reader, file string, opt BoundaryOptions) ([]BoundaryFeature, Problems, error) {
	pattern, ok := codePattern[opt.Level]
	if !ok {
		return nil, nil, risk.Errorf(risk.EINVALID, "level %q: want kabupaten, kecamatan or desa", opt.Level)
	}
	if opt.CodeProp == "" {
		opt.CodeProp = "code"
	}
	if opt.NameProp == "" {
		opt.NameProp = "name"
	}
	if opt.ParentProp == "" {
		opt.ParentProp = map[string]string{"desa": "kecamatan_code", "kecamatan": "kabupaten_code"}[opt.Level]
	}
	var out []BoundaryFeature
	seen := map[string]int{}
	problems, err := readAreas(r, file, func(a Area, props geojson.Properties) *Problem {
		code, codeErr := textProp(props, opt.CodeProp)
		reject := func(col, format string, args ...any) *Problem {
			return &Problem{File: file, Row: a.Index, Column: col, Code: code, Reason: fmt.Sprintf(format, args...), Raw: a.Raw}
		}
		if codeErr != nil {
			return reject(opt.CodeProp, "%v", codeErr)
		}
		if code == "" {
			return reject(opt.CodeProp, "missing code")
		}
		if !pattern.MatchString(code) {
			return reject(opt.CodeProp, "code %q is not a %s code (want a Kemendagri code like %s)", code, opt.Level,
				map[string]string{"kabupaten": "35.13", "kecamatan": "35.13.13", "desa": "35.13.13.2003"}[opt.Level])
		}
		if first, dup := seen[code]; dup {
			return reject(opt.CodeProp, "duplicate code: feature %d has it too", first)
		}
		name, err := textProp(props, opt.NameProp)
		if err != nil {
			return reject(opt.NameProp, "%v", err)
		}
		if name == "" {
			return reject(opt.NameProp, "missing name")
		}
		parent := risk.ParentCode(code)
		if opt.ParentProp != "" && opt.Level != "kabupaten" {
			p, err := textProp(props, opt.ParentProp)
			if err != nil {
				return reject(opt.ParentProp, "%v", err)
			}
			if p != "" && p != parent {
				return reject(opt.ParentProp, "parent code %q does not contain code %q", p, code)
			}
		}
		seen[code] = a.Index
		out = append(out, BoundaryFeature{Area: a, Boundary: risk.Boundary{Level: opt.Level, Code: code, Name: name, ParentCode: parent}})
		return nil
	})
	return out, problems, err
}

// PlantationFeature is a tobacco field read from GeoJSON.
type PlantationFeature struct {
	Area
	risk.Plantation
}

// ReadPlantations reads tobacco field polygons with properties id, variety and
// planting_date (YYYY-MM-DD, optional).
func ReadPlantations(r io.Reader, file string) ([]PlantationFeature, Problems, error) {
	var out []PlantationFeature
	seen := map[string]int{}
	problems, err := readAreas(r, file, func(a Area, props geojson.Properties) *Problem {
		id := strings.TrimSpace(fmt.Sprint(props["id"]))
		if props["id"] == nil {
			id = ""
		}
		reject := func(col, format string, args ...any) *Problem {
			return &Problem{File: file, Row: a.Index, Column: col, Code: id, Reason: fmt.Sprintf(format, args...), Raw: a.Raw}
		}
		if id == "" {
			return reject("id", "missing id")
		}
		if first, dup := seen[id]; dup {
			return reject("id", "duplicate id: feature %d has it too", first)
		}
		variety, err := textProp(props, "variety")
		if err != nil {
			return reject("variety", "%v", err)
		}
		if variety == "" {
			return reject("variety", "missing variety")
		}
		var planted time.Time
		s, err := textProp(props, "planting_date")
		if err != nil {
			return reject("planting_date", "%v", err)
		}
		if s != "" {
			t, err := time.Parse("2006-01-02", s)
			if err != nil {
				return reject("planting_date", "%q is not a date (want YYYY-MM-DD)", s)
			}
			planted = t
		}
		seen[id] = a.Index
		out = append(out, PlantationFeature{Area: a, Plantation: risk.Plantation{ID: id, Variety: variety, PlantingDate: planted}})
		return nil
	})
	return out, problems, err
}

// textProp reads a text property, trimmed; a missing or null property is "".
// Any other JSON type is an error rather than a guess: a code written as a
// number (35.13) has already lost its zeros.
func textProp(props geojson.Properties, key string) (string, error) {
	switch v := props[key].(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(v), nil
	default:
		return "", fmt.Errorf("%s must be a JSON string, not %s", key, jsonKind(v))
	}
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case float64:
		return fmt.Sprintf("the number %v", v)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// readAreas decodes a FeatureCollection whose features are polygons and calls
// accept for each usable one; accept returns a problem to reject it.
func readAreas(r io.Reader, file string, accept func(Area, geojson.Properties) *Problem) (Problems, error) {
	var fc struct {
		Type     string            `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(&fc); err != nil {
		return nil, risk.Errorf(risk.EINVALID, "%s: not GeoJSON: %v", file, err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, risk.Errorf(risk.EINVALID, "%s: type %q, want a FeatureCollection", file, fc.Type)
	}
	var problems Problems
	for i, raw := range fc.Features {
		a := Area{Index: i, Raw: string(raw)}
		f, err := geojson.UnmarshalFeature(raw)
		if err != nil {
			problems = append(problems, Problem{File: file, Row: i, Reason: "not a GeoJSON feature: " + err.Error(), Raw: a.Raw})
			continue
		}
		if p := polygonal(f.Geometry, &a); p != "" {
			problems = append(problems, Problem{File: file, Row: i, Column: "geometry", Code: fmt.Sprint(f.Properties["code"]), Reason: p, Raw: a.Raw})
			continue
		}
		if p := accept(a, f.Properties); p != nil {
			problems = append(problems, *p)
		}
	}
	return problems, nil
}

// polygonal checks g and stores it in a as a MultiPolygon; it returns the
// reason it cannot, or "". Unclosed rings are closed and noted.
func polygonal(g orb.Geometry, a *Area) string {
	var mp orb.MultiPolygon
	switch g := g.(type) {
	case nil:
		return "missing geometry"
	case orb.Polygon:
		mp = orb.MultiPolygon{g}
	case orb.MultiPolygon:
		mp = g
	default:
		return fmt.Sprintf("geometry type %s, want Polygon or MultiPolygon", g.GeoJSONType())
	}
	if len(mp) == 0 {
		return "empty geometry"
	}
	for pi, poly := range mp {
		if len(poly) == 0 {
			return fmt.Sprintf("polygon %d has no rings", pi)
		}
		for ri, ring := range poly {
			for _, pt := range ring {
				if math.IsNaN(pt[0]) || math.IsNaN(pt[1]) || pt[0] < -180 || pt[0] > 180 || pt[1] < -90 || pt[1] > 90 {
					return fmt.Sprintf("coordinate [%g, %g] out of range (want longitude -180..180, latitude -90..90, EPSG:4326)", pt[0], pt[1])
				}
			}
			if len(ring) > 0 && ring[0] != ring[len(ring)-1] {
				ring = append(ring, ring[0])
				mp[pi][ri] = ring
				a.Note = "ring closed"
			}
			if len(ring) < 4 {
				return fmt.Sprintf("polygon %d ring %d has %d points, want at least 4", pi, ri, len(ring))
			}
		}
	}
	a.Geom = mp
	return ""
}
