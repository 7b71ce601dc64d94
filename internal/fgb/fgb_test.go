package fgb

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/paulmach/orb"
)

// GDAL reads whole files in TestExportPMTiles (cmd/riskmap); these check
// the pieces a reader cannot see go wrong by themselves.
func TestProperties(t *testing.T) {
	cols := []Column{{Name: "code", Type: String}, {Name: "n", Type: Long}, {Name: "score", Type: Double}, {Name: "hot", Type: Bool}}
	got, err := properties(cols, []any{"35.13", nil, 61.5, true})
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = binary.LittleEndian.AppendUint16(want, 0)
	want = binary.LittleEndian.AppendUint32(want, 5)
	want = append(want, "35.13"...)
	want = binary.LittleEndian.AppendUint16(want, 2) // column 1 is null: not written
	want = binary.LittleEndian.AppendUint64(want, math.Float64bits(61.5))
	want = binary.LittleEndian.AppendUint16(want, 3)
	want = append(want, 1)
	if !bytes.Equal(got, want) {
		t.Errorf("properties = %x, want %x", got, want)
	}
	for _, tc := range []struct {
		values []any
		err    string
	}{
		{[]any{int64(3), nil, nil, nil}, "column code: an integer"},
		{[]any{nil, 3.5, nil, nil}, "column n: a number"},
		{[]any{nil, nil, nil, "yes"}, "column hot: a string"},
		{[]any{nil, nil, float32(1), nil}, "column score: a value of type float32"},
	} {
		if _, err := properties(cols, tc.values); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("properties(%v): %v, want %q", tc.values, err, tc.err)
		}
	}
}

func TestWriteRefuses(t *testing.T) {
	h := Header{Name: "x", Geometry: orb.MultiPolygon{}, EPSG: 4326, Columns: []Column{{Name: "code", Type: String}}}
	sq := orb.MultiPolygon{{{{0, 0}, {1, 0}, {1, 1}, {0, 0}}}}
	for _, tc := range []struct {
		f   Feature
		err string
	}{
		{Feature{Geometry: orb.Point{1, 2}, Values: []any{"a"}}, "geometry orb.Point, the header says orb.MultiPolygon"},
		{Feature{Geometry: sq, Values: nil}, "0 values for 1 columns"},
	} {
		if err := Write(&bytes.Buffer{}, h, []Feature{tc.f}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Write: %v, want %q", err, tc.err)
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, h, []Feature{{Geometry: sq, Values: []any{"a"}}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), magic) {
		t.Errorf("no magic bytes: %x", buf.Bytes()[:8])
	}
}
