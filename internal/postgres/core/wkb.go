package core

import (
	"fmt"

	"github.com/paulmach/orb"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/ewkb"
)

// go-geom's one job in riskmap: the PostGIS wire format. Geometries travel
// through the rest of the code as orb values; they become EWKB here on the way
// into PostGIS and come back from EWKB here on the way out.

// EncodeMultiPolygon encodes mp as EWKB with SRID 4326.
func EncodeMultiPolygon(mp orb.MultiPolygon) ([]byte, error) {
	g := geom.NewMultiPolygon(geom.XY).SetSRID(4326)
	for _, poly := range mp {
		coords := make([][]geom.Coord, len(poly))
		for i, ring := range poly {
			coords[i] = make([]geom.Coord, len(ring))
			for j, pt := range ring {
				coords[i][j] = geom.Coord{pt[0], pt[1]}
			}
		}
		p, err := geom.NewPolygon(geom.XY).SetCoords(coords)
		if err != nil {
			return nil, err
		}
		if err := g.Push(p); err != nil {
			return nil, err
		}
	}
	return ewkb.Marshal(g, ewkb.NDR)
}

// DecodeMultiPolygon decodes EWKB of a Polygon or MultiPolygon.
func DecodeMultiPolygon(b []byte) (orb.MultiPolygon, error) {
	g, err := ewkb.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	var polys []*geom.Polygon
	switch g := g.(type) {
	case *geom.Polygon:
		polys = []*geom.Polygon{g}
	case *geom.MultiPolygon:
		for i := 0; i < g.NumPolygons(); i++ {
			polys = append(polys, g.Polygon(i))
		}
	default:
		return nil, fmt.Errorf("geometry %T, want a polygon", g)
	}
	mp := make(orb.MultiPolygon, 0, len(polys))
	for _, p := range polys {
		poly := make(orb.Polygon, 0, p.NumLinearRings())
		for i := 0; i < p.NumLinearRings(); i++ {
			ring := p.LinearRing(i)
			r := make(orb.Ring, ring.NumCoords())
			for j := range r {
				c := ring.Coord(j)
				r[j] = orb.Point{c.X(), c.Y()}
			}
			poly = append(poly, r)
		}
		mp = append(mp, poly)
	}
	return mp, nil
}

// EncodePoint encodes a lon/lat point as EWKB with SRID 4326.
func EncodePoint(lon, lat float64) ([]byte, error) {
	return ewkb.Marshal(geom.NewPointFlat(geom.XY, []float64{lon, lat}).SetSRID(4326), ewkb.NDR)
}
