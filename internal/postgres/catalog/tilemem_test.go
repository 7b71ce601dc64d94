package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
)

// TestMerge checks MemProps.merge without a database (TestMemTile checks
// it byte for byte against PostGIS): a pieces tile as memTileSQL returns
// it, encoded here by orb, gets each area's properties in the layer's key
// order with values typed as ST_AsMVT types them; a property from a deeper
// zoom, a month outside 1..12 and a null are left out; a piece whose area
// is not held is left out, and a tile left with none is empty; bytes that
// are not a pieces tile are refused.
func TestMerge(t *testing.T) {
	p := &MemProps{id: "villages", keys: []string{"id", "name", "score", "households", "pilot", "seasonal_score"},
		from: []int{0, 0, 0, 12, 0, 0}, seasonal: true, width: 5 + 12, rows: map[string]int32{}}
	interned := map[string]uint32{}
	intern := func(v []byte) uint32 {
		if v == nil {
			return 0
		}
		if id, ok := interned[string(v)]; ok {
			return id
		}
		p.values = append(p.values, v)
		interned[string(v)] = uint32(len(p.values))
		return uint32(len(p.values))
	}
	add := func(code, name string, score float64, households int64, pilot []byte, months ...float64) {
		p.rows[code] = int32(len(p.vals) / p.width)
		p.vals = append(p.vals, intern(stringValue(code)), intern(stringValue(name)), intern(doubleValue(score)), intern(intValue(households)), intern(pilot))
		for m := range 12 {
			var v []byte
			if m < len(months) {
				v = doubleValue(months[m])
			}
			p.vals = append(p.vals, intern(v))
		}
	}
	add("a", "Alasnyiur", 26.0, 120, boolValue(true), 1, 2, 3, 4, 5, 6, 7, 8.5, 9, 10, 11, 12)
	add("b", "Glagah", 30.625, -3, nil) // a negative count, no pilot flag, no months

	pieces := func(codes ...string) []byte {
		t.Helper()
		l := &mvt.Layer{Name: "villages", Version: 2, Extent: 4096}
		for i, c := range codes {
			f := orb.Polygon{{{0, 0}, {float64(10 + i), 0}, {10, 10}, {0, 0}}}
			gf := geojson.NewFeature(f)
			gf.Properties["id"] = c
			l.Features = append(l.Features, gf)
		}
		b, err := mvt.Marshal(mvt.Layers{l})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	decode := func(b []byte) map[string]map[string]any {
		t.Helper()
		layers, err := mvt.Unmarshal(b)
		if err != nil || len(layers) != 1 || layers[0].Name != "villages" {
			t.Fatalf("merged tile: %v, %v", layers, err)
		}
		out := map[string]map[string]any{}
		for _, f := range layers[0].Features {
			if _, ok := f.Geometry.(orb.Polygon); !ok {
				t.Errorf("feature %v: geometry %T, want the piece's polygon", f.Properties["id"], f.Geometry)
			}
			out[f.Properties["id"].(string)] = f.Properties
		}
		return out
	}

	got, err := p.merge(pieces("a", "x", "b"), 13, 8)
	if err != nil {
		t.Fatal(err)
	}
	fs := decode(got)
	if len(fs) != 2 || fs["x"] != nil {
		t.Fatalf("features %v: want a and b, the piece of x (not held) left out", fs)
	}
	a, b := fs["a"], fs["b"]
	// orb decodes every number as float64; the value types are checked
	// on the wire below.
	for _, c := range []struct {
		f    map[string]any
		key  string
		want any
	}{
		{a, "name", "Alasnyiur"}, {a, "score", 26.0}, {a, "households", 120.0}, {a, "pilot", true}, {a, "seasonal_score", 8.5},
		{b, "name", "Glagah"}, {b, "score", 30.625}, {b, "households", -3.0}, {b, "pilot", nil}, {b, "seasonal_score", nil},
	} {
		if c.f[c.key] != c.want {
			t.Errorf("%v %s = %#v (%T), want %#v (%T)", c.f["id"], c.key, c.f[c.key], c.f[c.key], c.want, c.want)
		}
	}
	// On the wire: 120 as uint_value (field 5), -3 as sint_value (field
	// 6, zigzag 5), 26.0 as double_value (field 3), true as bool_value,
	// text as string_value; each value once, in the order of first use.
	layer, err := onlyField(got, 3)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for len(layer) > 0 {
		num, _, body, rest, err := field(layer)
		if err != nil {
			t.Fatal(err)
		}
		if num == 4 {
			values = append(values, string(body))
		}
		layer = rest
	}
	want := []string{string(stringValue("a")), string(stringValue("Alasnyiur")), string(doubleValue(26)), "\x28\x78", "\x38\x01", string(doubleValue(8.5)),
		string(stringValue("b")), string(stringValue("Glagah")), string(doubleValue(30.625)), "\x30\x05"}
	if len(values) != len(want) {
		t.Fatalf("%d values % x, want %d", len(values), values, len(want))
	}
	for i := range want {
		if values[i] != want[i] {
			t.Errorf("value %d: % x, want % x", i, values[i], want[i])
		}
	}
	// A property carried from zoom 12 is left out at 11; month 0 and 13
	// carry no seasonal score.
	for _, c := range []struct{ z, month int }{{11, 0}, {14, 0}, {14, 13}} {
		got, err := p.merge(pieces("a"), c.z, c.month)
		if err != nil {
			t.Fatal(err)
		}
		a := decode(got)["a"]
		if _, has := a["households"]; has != (c.z >= 12) {
			t.Errorf("zoom %d: households %v", c.z, a["households"])
		}
		if _, has := a["seasonal_score"]; has {
			t.Errorf("month %d: seasonal_score %v", c.month, a["seasonal_score"])
		}
	}
	// Nothing held: an empty tile, as the join leaves no row.
	if got, err := p.merge(pieces("x", "y"), 13, 0); err != nil || len(got) != 0 {
		t.Errorf("no piece held: %d bytes, %v; want none", len(got), err)
	}
	if got, err := p.merge(nil, 13, 0); err != nil || len(got) != 0 {
		t.Errorf("no pieces: %d bytes, %v", len(got), err)
	}
	for _, bad := range [][]byte{{0x1a}, {0x1a, 0x05, 1, 2}, []byte("not a tile"), append(pieces("a"), 0x1a, 0x00)} {
		if _, err := p.merge(bad, 13, 0); !errors.Is(err, errSplice) {
			t.Errorf("merge(% x): %v, want errSplice", bad, err)
		}
	}
}

// BenchmarkMerge is the Go side of a deep tile built from memory: the
// properties of 60 villages (a zoom-11 tile's worth; 15 properties and 12
// months each) put on their pieces, against copying the pieces tile alone
// (what serving PostGIS's bytes as they are costs).
func BenchmarkMerge(b *testing.B) {
	const areas, fields = 60, 15
	p := &MemProps{id: "villages", seasonal: true, width: 1 + fields + 12, rows: map[string]int32{}}
	p.keys = append(p.keys, "id")
	p.from = append(p.from, 0)
	for k := range fields {
		p.keys = append(p.keys, "p"+strconv.Itoa(k))
		p.from = append(p.from, 0)
	}
	p.keys = append(p.keys, "seasonal_score")
	p.from = append(p.from, 0)
	l := &mvt.Layer{Name: "villages", Version: 2, Extent: 4096}
	for a := range areas {
		code := fmt.Sprintf("35.13.%02d.%04d", a/10, a)
		p.rows[code] = int32(a)
		p.values = append(p.values, stringValue(code))
		p.vals = append(p.vals, uint32(len(p.values)))
		for k := range fields + 12 {
			switch {
			case k%3 == 0:
				p.values = append(p.values, doubleValue(float64(a*k)/7))
			case k%3 == 1:
				p.values = append(p.values, intValue(int64(a+k)))
			default:
				p.values = append(p.values, stringValue("tier"+strconv.Itoa(k%4)))
			}
			p.vals = append(p.vals, uint32(len(p.values)))
		}
		var ring orb.Ring
		for i := range 40 {
			ring = append(ring, orb.Point{float64(a*60 + i), float64(i * i % 97)})
		}
		gf := geojson.NewFeature(orb.Polygon{append(ring, ring[0])})
		gf.Properties["id"] = code
		l.Features = append(l.Features, gf)
	}
	pieces, err := mvt.Marshal(mvt.Layers{l})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("merge", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			out, err := p.merge(pieces, 11, 8)
			if err != nil {
				b.Fatal(err)
			}
			n = len(out)
		}
		b.ReportMetric(float64(n), "bytes/tile")
	})
	b.Run("copy", func(b *testing.B) {
		for b.Loop() {
			_ = bytes.Clone(pieces)
		}
	})
}
