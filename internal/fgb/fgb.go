// Package fgb writes FlatGeobuf (format 3), the binary feature format GIS
// tools read in one sequential pass or by range requests: magic bytes, a
// size-prefixed header flatbuffer (name, envelope, geometry type, columns,
// feature count, CRS), then each feature as a size-prefixed flatbuffer
// (geometry as flat xy with ring ends, properties as column-indexed
// values). The schema is flatgeobuf's src/fbs/header.fbs and feature.fbs;
// this writer writes no spatial index (index_node_size 0), which readers
// accept: a file of a few thousand areas is read whole.
//
// Geometries are orb's (the project's geometry library); only Point,
// Polygon and MultiPolygon are written, the types riskmap's layers hold.
package fgb

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	flatbuffers "github.com/google/flatbuffers/go"
	"github.com/paulmach/orb"
)

// magic is "fgb", major version 3, "fgb", patch 1.
var magic = []byte{0x66, 0x67, 0x62, 0x03, 0x66, 0x67, 0x62, 0x01}

// ColumnType is a property's type (header.fbs ColumnType).
type ColumnType byte

const (
	Bool   ColumnType = 2
	Long   ColumnType = 7
	Double ColumnType = 10
	String ColumnType = 11
)

// geometryType is header.fbs GeometryType (the WKB numbers).
const (
	gPoint        = 1
	gPolygon      = 3
	gMultiPolygon = 6
)

// Column is one property of every feature.
type Column struct {
	Name, Description string
	Type              ColumnType
}

// Header describes the dataset.
type Header struct {
	Name, Title, Description string
	Geometry                 orb.Geometry // a value of the type every feature has (orb.Point{}, orb.MultiPolygon{}, ...)
	EPSG                     int          // 4326
	Columns                  []Column
}

// Feature is one geometry and its values in Header.Columns' order: nil (a
// null, not written), bool, int64, float64 or string as the column says.
type Feature struct {
	Geometry orb.Geometry
	Values   []any
}

// Write writes a FlatGeobuf file of features to w.
func Write(w io.Writer, h Header, features []Feature) error {
	gt, err := geometryType(h.Geometry)
	if err != nil {
		return err
	}
	env := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for i, f := range features {
		if t, err := geometryType(f.Geometry); err != nil || t != gt {
			return fmt.Errorf("feature %d: geometry %T, the header says %T", i, f.Geometry, h.Geometry)
		}
		if len(f.Values) != len(h.Columns) {
			return fmt.Errorf("feature %d: %d values for %d columns", i, len(f.Values), len(h.Columns))
		}
		env = env.Union(f.Geometry.Bound())
	}
	if _, err := w.Write(magic); err != nil {
		return err
	}
	b := flatbuffers.NewBuilder(4096)
	if _, err := w.Write(header(b, h, gt, env, len(features))); err != nil {
		return err
	}
	for i, f := range features {
		buf, err := feature(b, h.Columns, f)
		if err != nil {
			return fmt.Errorf("feature %d: %w", i, err)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

func geometryType(g orb.Geometry) (byte, error) {
	switch g.(type) {
	case orb.Point:
		return gPoint, nil
	case orb.Polygon:
		return gPolygon, nil
	case orb.MultiPolygon:
		return gMultiPolygon, nil
	}
	return 0, fmt.Errorf("fgb: geometry %T is not written (Point, Polygon, MultiPolygon)", g)
}

func header(b *flatbuffers.Builder, h Header, gt byte, env orb.Bound, n int) []byte {
	b.Reset()
	cols := make([]flatbuffers.UOffsetT, len(h.Columns))
	for i, c := range h.Columns {
		name, desc := b.CreateString(c.Name), b.CreateString(c.Description)
		b.StartObject(11) // Column
		b.PrependUOffsetTSlot(0, name, 0)
		b.PrependByteSlot(1, byte(c.Type), 0)
		b.PrependUOffsetTSlot(3, desc, 0)
		cols[i] = b.EndObject()
	}
	b.StartVector(4, len(cols), 4)
	for i := len(cols) - 1; i >= 0; i-- {
		b.PrependUOffsetT(cols[i])
	}
	colVec := b.EndVector(len(cols))
	var envVec flatbuffers.UOffsetT
	if n > 0 {
		b.StartVector(8, 4, 8)
		for _, v := range []float64{env.Max[1], env.Max[0], env.Min[1], env.Min[0]} { // prepended: minx, miny, maxx, maxy
			b.PrependFloat64(v)
		}
		envVec = b.EndVector(4)
	}
	org := b.CreateString("EPSG")
	b.StartObject(6) // Crs
	b.PrependUOffsetTSlot(0, org, 0)
	b.PrependInt32Slot(1, int32(h.EPSG), 0)
	crs := b.EndObject()
	name, title, desc := b.CreateString(h.Name), b.CreateString(h.Title), b.CreateString(h.Description)
	b.StartObject(14) // Header
	b.PrependUOffsetTSlot(0, name, 0)
	if n > 0 {
		b.PrependUOffsetTSlot(1, envVec, 0)
	}
	b.PrependByteSlot(2, gt, 0)
	b.PrependUOffsetTSlot(7, colVec, 0)
	b.PrependUint64Slot(8, uint64(n), 0)
	b.PrependUint16Slot(9, 0, 16) // no spatial index
	b.PrependUOffsetTSlot(10, crs, 0)
	b.PrependUOffsetTSlot(11, title, 0)
	b.PrependUOffsetTSlot(12, desc, 0)
	b.FinishSizePrefixed(b.EndObject())
	return b.FinishedBytes()
}

func feature(b *flatbuffers.Builder, cols []Column, f Feature) ([]byte, error) {
	b.Reset()
	props, err := properties(cols, f.Values)
	if err != nil {
		return nil, err
	}
	var g flatbuffers.UOffsetT
	switch geom := f.Geometry.(type) {
	case orb.Point:
		g = simple(b, [][]orb.Point{{geom}}, gPoint, false)
	case orb.Polygon:
		g = polygon(b, geom, false)
	case orb.MultiPolygon:
		parts := make([]flatbuffers.UOffsetT, len(geom))
		for i, p := range geom {
			parts[i] = polygon(b, p, true)
		}
		b.StartVector(4, len(parts), 4)
		for i := len(parts) - 1; i >= 0; i-- {
			b.PrependUOffsetT(parts[i])
		}
		vec := b.EndVector(len(parts))
		b.StartObject(8) // Geometry
		b.PrependUOffsetTSlot(7, vec, 0)
		b.PrependByteSlot(6, gMultiPolygon, 0)
		g = b.EndObject()
	}
	pv := b.CreateByteVector(props)
	b.StartObject(3) // Feature
	b.PrependUOffsetTSlot(0, g, 0)
	b.PrependUOffsetTSlot(1, pv, 0)
	b.FinishSizePrefixed(b.EndObject())
	return b.FinishedBytes(), nil
}

// polygon is a Polygon geometry: its rings' points flat, each ring's end.
func polygon(b *flatbuffers.Builder, p orb.Polygon, part bool) flatbuffers.UOffsetT {
	rings := make([][]orb.Point, len(p))
	for i, r := range p {
		rings[i] = r
	}
	return simple(b, rings, gPolygon, part)
}

// simple is a Geometry of flat xy and, with more than one ring, the index
// one past each ring's last point; a part of a collection names its type.
func simple(b *flatbuffers.Builder, rings [][]orb.Point, gt byte, part bool) flatbuffers.UOffsetT {
	n := 0
	for _, r := range rings {
		n += len(r)
	}
	var ends flatbuffers.UOffsetT
	if len(rings) > 1 {
		b.StartVector(4, len(rings), 4)
		end := n
		for i := len(rings) - 1; i >= 0; i-- {
			b.PrependUint32(uint32(end))
			end -= len(rings[i])
		}
		ends = b.EndVector(len(rings))
	}
	b.StartVector(8, 2*n, 8)
	for i := len(rings) - 1; i >= 0; i-- {
		for j := len(rings[i]) - 1; j >= 0; j-- {
			b.PrependFloat64(rings[i][j][1])
			b.PrependFloat64(rings[i][j][0])
		}
	}
	xy := b.EndVector(2 * n)
	b.StartObject(8) // Geometry
	if len(rings) > 1 {
		b.PrependUOffsetTSlot(0, ends, 0)
	}
	b.PrependUOffsetTSlot(1, xy, 0)
	if part {
		b.PrependByteSlot(6, gt, 0)
	}
	return b.EndObject()
}

// properties encodes the non-null values: the column's index (uint16),
// then the value, little-endian; a string as its byte length (uint32) and
// its UTF-8 bytes.
func properties(cols []Column, values []any) ([]byte, error) {
	var out []byte
	for i, v := range values {
		if v == nil {
			continue
		}
		out = binary.LittleEndian.AppendUint16(out, uint16(i))
		c := cols[i]
		switch x := v.(type) {
		case bool:
			if c.Type != Bool {
				return nil, fmt.Errorf("column %s: a bool", c.Name)
			}
			if x {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		case int64:
			if c.Type != Long {
				return nil, fmt.Errorf("column %s: an integer", c.Name)
			}
			out = binary.LittleEndian.AppendUint64(out, uint64(x))
		case float64:
			if c.Type != Double {
				return nil, fmt.Errorf("column %s: a number", c.Name)
			}
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(x))
		case string:
			if c.Type != String {
				return nil, fmt.Errorf("column %s: a string", c.Name)
			}
			out = binary.LittleEndian.AppendUint32(out, uint32(len(x)))
			out = append(out, x...)
		default:
			return nil, fmt.Errorf("column %s: a value of type %T", c.Name, v)
		}
	}
	return out, nil
}
