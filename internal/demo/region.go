// Package demo generates riskmap's own demo data, deterministically from a
// seed: village polygons around the programme's four pilot villages, household
// surveys with children, tobacco fields and the Paiton Voor-Oogst calendar.
// The shapes are ours (a Voronoi tessellation), not real boundaries.
package demo

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/paulmach/orb"
)

// Village is a generated or loaded village polygon.
type Village struct {
	Code, Name, KecamatanCode string
	Geom                      orb.MultiPolygon
	Programme                 bool // one of the four pilot villages
	// Risk shifts the village's share of working children: generated data
	// needs places that differ, or there is nothing to map.
	Risk float64
}

// The programme's pilot villages (../shared/domain.md): real codes and
// approximate centroids.
var pilots = []struct {
	code, name, kec string
	lat, lon        float64
}{
	{"35.13.13.2003", "Alasnyiur", "35.13.13", -7.8094, 113.4998},
	{"35.13.13.2015", "Alaskandang", "35.13.13", -7.7670, 113.4724},
	{"35.13.10.2010", "Glagah", "35.13.10", -7.7710, 113.5030},
	{"35.13.10.2006", "Pakuniran", "35.13.10", -7.8130, 113.5220},
}

// IsPilot says whether code is one of the programme's four pilot villages.
func IsPilot(code string) bool {
	for _, p := range pilots {
		if p.code == code {
			return true
		}
	}
	return false
}

// CensusDensity is the households per km2 a pilot's census finds in the
// generated surveys: about rural East Java's (some 750 people per km2 in
// households of 3.3).
const CensusDensity = 230

// Names of the region's administrative parents, for the areas derived from villages.
var ParentNames = map[string]string{
	"35.13":    "Kabupaten Probolinggo",
	"35.13.13": "Besuk",
	"35.13.10": "Pakuniran",
}

// The demo region's extent, lon/lat.
var regionBound = orb.Bound{Min: orb.Point{113.445, -7.845}, Max: orb.Point{113.560, -7.735}}

// Region returns the demo villages: the four pilots at their real centroids and
// fictional neighbours (codes 9001 and up, so they never clash with a real
// Kemendagri desa code), as the cells of a Voronoi tessellation.
func Region(seed uint64) []Village {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var seeds []orb.Point
	for _, p := range pilots {
		seeds = append(seeds, orb.Point{p.lon, p.lat})
	}
	const minKm = 1.55
	for tries := 0; len(seeds) < 44 && tries < 20000; tries++ {
		p := orb.Point{
			regionBound.Min[0] + rng.Float64()*(regionBound.Max[0]-regionBound.Min[0]),
			regionBound.Min[1] + rng.Float64()*(regionBound.Max[1]-regionBound.Min[1]),
		}
		ok := true
		for _, s := range seeds {
			if km(p, s) < minKm {
				ok = false
				break
			}
		}
		if ok {
			seeds = append(seeds, p)
		}
	}
	villages := make([]Village, len(seeds))
	next := map[string]int{"35.13.13": 9001, "35.13.10": 9001}
	for i, s := range seeds {
		v := &villages[i]
		v.Geom = orb.MultiPolygon{voronoiCell(seeds, i)}
		if i < len(pilots) {
			v.Code, v.Name, v.KecamatanCode, v.Programme = pilots[i].code, pilots[i].name, pilots[i].kec, true
			v.Risk = 0.35 + 0.1*float64(i%2)
			continue
		}
		// A fictional village belongs to the kecamatan of its nearest pilot.
		near := 0
		for j := range pilots {
			if km(s, seeds[j]) < km(s, seeds[near]) {
				near = j
			}
		}
		v.KecamatanCode = pilots[near].kec
		v.Code = fmt.Sprintf("%s.%04d", v.KecamatanCode, next[v.KecamatanCode])
		next[v.KecamatanCode]++
		v.Name = villageName(rng)
		// Risk rises toward the south-west, where we put more tobacco: a
		// gradient that hotspot analysis should find.
		v.Risk = 0.1 + 0.35*(regionBound.Max[1]-s[1])/(regionBound.Max[1]-regionBound.Min[1])*
			(regionBound.Max[0]-s[0])/(regionBound.Max[0]-regionBound.Min[0])*2 + 0.1*rng.Float64()
	}
	return villages
}

var (
	namePrefixes = []string{"Sumber", "Karang", "Tegal", "Wringin", "Kali", "Gunung", "Randu", "Jati", "Banyu", "Sido", "Krajan", "Watu"}
	nameSuffixes = []string{"anyar", "rejo", "sari", "wetan", "kulon", "asri", "mulyo", "agung", "lor", "kidul", "jaya", "makmur"}
)

func villageName(rng *rand.Rand) string {
	return namePrefixes[rng.IntN(len(namePrefixes))] + nameSuffixes[rng.IntN(len(nameSuffixes))]
}

// km is the approximate distance between two lon/lat points near the equator.
func km(a, b orb.Point) float64 {
	dx := (a[0] - b[0]) * 111.32 * math.Cos(a[1]*math.Pi/180)
	dy := (a[1] - b[1]) * 110.57
	return math.Hypot(dx, dy)
}

// voronoiCell is the region's part nearer seeds[i] than any other seed:
// the region's rectangle clipped by one half-plane per other seed, computed
// in a local metric frame so that cells are not stretched.
func voronoiCell(seeds []orb.Point, i int) orb.Polygon {
	kx := math.Cos(seeds[i][1] * math.Pi / 180)
	toXY := func(p orb.Point) orb.Point { return orb.Point{p[0] * kx, p[1]} }
	b := regionBound
	ring := []orb.Point{toXY(b.Min), toXY(orb.Point{b.Max[0], b.Min[1]}), toXY(b.Max), toXY(orb.Point{b.Min[0], b.Max[1]})}
	si := toXY(seeds[i])
	for j, s := range seeds {
		if j == i {
			continue
		}
		sj := toXY(s)
		// Keep points p with (p - m) . (sj - si) <= 0, m the midpoint.
		n := orb.Point{sj[0] - si[0], sj[1] - si[1]}
		m := orb.Point{(si[0] + sj[0]) / 2, (si[1] + sj[1]) / 2}
		side := func(p orb.Point) float64 { return (p[0]-m[0])*n[0] + (p[1]-m[1])*n[1] }
		var out []orb.Point
		for k := range ring {
			a, c := ring[k], ring[(k+1)%len(ring)]
			sa, sc := side(a), side(c)
			if sa <= 0 {
				out = append(out, a)
			}
			if (sa < 0 && sc > 0) || (sa > 0 && sc < 0) {
				t := sa / (sa - sc)
				out = append(out, orb.Point{a[0] + t*(c[0]-a[0]), a[1] + t*(c[1]-a[1])})
			}
		}
		ring = out
	}
	r := make(orb.Ring, 0, len(ring)+1)
	for _, p := range ring {
		r = append(r, orb.Point{round6(p[0] / kx), round6(p[1])})
	}
	r = append(r, r[0])
	if r.Orientation() != orb.CCW {
		r.Reverse()
	}
	return orb.Polygon{r}
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
