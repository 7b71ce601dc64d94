package demo

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/planar"
)

// TestCommittedDemoIsGenerated regenerates the demo region and compares it
// byte for byte with geodata/demo: the committed data is this code's output.
func TestCommittedDemoIsGenerated(t *testing.T) {
	dir := t.TempDir()
	villages := Region(20200218)
	if err := WriteVillages(dir, villages); err != nil {
		t.Fatal(err)
	}
	if err := Generate(dir, villages, Options{Seed: 20200218, Households: 2000}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{VillagesFile, HouseholdsFile, ChildrenFile, PlantationsFile, CalendarFile, InstitutionFile} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "geodata", "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("geodata/demo/%s is not what the generator writes; run make demo-data", name)
		}
	}
}

func TestRegion(t *testing.T) {
	villages := Region(20200218)
	if len(villages) < 30 {
		t.Fatalf("%d villages, want a region of at least 30", len(villages))
	}
	codes := map[string]bool{}
	for i, v := range villages {
		if codes[v.Code] {
			t.Errorf("duplicate code %s", v.Code)
		}
		codes[v.Code] = true
		km2 := areaKm2(v.Geom)
		if km2 < 0.3 || km2 > 12 {
			t.Errorf("%s %s: %.2f km2, want a village-sized area", v.Code, v.Name, km2)
		}
		if i < len(pilots) {
			p := orb.Point{pilots[i].lon, pilots[i].lat}
			if !planar.MultiPolygonContains(v.Geom, p) || v.Code != pilots[i].code {
				t.Errorf("pilot %s does not contain its centroid", pilots[i].name)
			}
			if km2 < 1.2 || km2 > 6 { // the pilots are 1.2-5 km2 (../shared/domain.md)
				t.Errorf("pilot %s: %.2f km2", pilots[i].name, km2)
			}
		}
		for _, w := range villages[i+1:] {
			c, _ := planar.CentroidArea(w.Geom)
			if planar.MultiPolygonContains(v.Geom, c) {
				t.Errorf("%s contains the centroid of %s: cells overlap", v.Code, w.Code)
			}
		}
	}
}

func areaKm2(mp orb.MultiPolygon) float64 {
	c, _ := planar.CentroidArea(mp)
	return planar.Area(mp) * 111.32 * math.Cos(c[1]*math.Pi/180) * 110.57
}

// With a census, the pilots hold CensusDensity households per km2 of their
// area, the other villages the rest in proportion to their area, and the
// total is what was asked for.
func TestPilotCensus(t *testing.T) {
	dir := t.TempDir()
	villages := Region(20200218)
	const n = 5000
	if err := Generate(dir, villages, Options{Seed: 3, Households: n, Census: CensusDensity}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, HouseholdsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(rows[0], "household/village")
	if col < 0 {
		t.Fatalf("no household/village column in %v", rows[0])
	}
	per := map[string]int{}
	for _, r := range rows[1:] {
		per[r[col]]++
	}
	if len(rows)-1 != n {
		t.Errorf("%d households, want %d", len(rows)-1, n)
	}
	var others, othersArea float64
	for _, v := range villages {
		if v.Programme {
			want := int(math.Round(geo.Area(v.Geom) / 1e6 * CensusDensity))
			if per[v.Code] != want {
				t.Errorf("pilot %s: %d households, its census is %d", v.Name, per[v.Code], want)
			}
			continue
		}
		others += float64(per[v.Code])
		othersArea += planar.Area(v.Geom)
	}
	// Every other village holds about its area's share (within 5 standard
	// deviations of a multinomial draw).
	for _, v := range villages {
		if v.Programme {
			continue
		}
		p := planar.Area(v.Geom) / othersArea
		mean, sd := others*p, math.Sqrt(others*p*(1-p))
		if math.Abs(float64(per[v.Code])-mean) > 5*sd+1 {
			t.Errorf("%s: %d households, its area's share is %.0f", v.Code, per[v.Code], mean)
		}
	}
}
