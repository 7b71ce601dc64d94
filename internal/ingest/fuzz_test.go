package ingest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addFiles(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("..", "..", n))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 64<<10 {
			b = b[:64<<10]
		}
		f.Add(b)
	}
}

// FuzzReadBoundaries: any input gives either an error or features and
// problems that account for every feature, never a panic.
func FuzzReadBoundaries(f *testing.F) {
	addFiles(f, "geodata/demo/villages.geojson")
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"35.13.13.2003","name":"A"},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2],[1,1]]]}}]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[[[[1,1]]]]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		areas, problems, err := ReadBoundaries(bytes.NewReader(data), "f.geojson", BoundaryOptions{Level: "desa"})
		if err != nil {
			return
		}
		seen := map[int]bool{}
		for _, a := range areas {
			seen[a.Index] = true
			if len(a.Geom) == 0 || !codePattern["desa"].MatchString(a.Code) {
				t.Fatalf("accepted feature %d without geometry or code: %+v", a.Index, a.Boundary)
			}
		}
		for _, p := range problems {
			if seen[p.Row] || p.Reason == "" {
				t.Fatalf("feature %d both accepted and rejected, or no reason: %+v", p.Row, p)
			}
			seen[p.Row] = true
		}
	})
}

func readAllHouseholds(t *testing.T, hr *HouseholdReader) {
	for {
		row, p, err := hr.Next()
		if errors.Is(err, io.EOF) || err != nil {
			return
		}
		if p != nil {
			if p.Reason == "" || p.Row < 2 || p.File == "" {
				t.Fatalf("problem without reason, row or file: %+v", p)
			}
			continue
		}
		if row.SurveyUUID == "" || row.Members < 1 || row.Lat < -90 || row.Lat > 90 || row.Lon < -180 || row.Lon > 180 {
			t.Fatalf("accepted a household that breaks its invariants: %+v", row.Household)
		}
	}
}

// FuzzHouseholdReader: any CSV gives households that hold their invariants or problems, never a panic.
func FuzzHouseholdReader(f *testing.F) {
	addFiles(f, "internal/postgres/testdata/kobo_households.csv", "internal/postgres/testdata/odk_households.csv")
	f.Add([]byte(koboHeader + "yes,35.13.13.2003,-7.8,113.5,5,farm_labourer,pkh,primary,no,5,2,u-1,,1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hr, err := NewHouseholdReader(bytes.NewReader(data), "hh.csv")
		if err != nil {
			return
		}
		readAllHouseholds(t, hr)
	})
}

// FuzzChildReader: children of fuzzed input either join a known household or are rejected.
func FuzzChildReader(f *testing.F) {
	addFiles(f, "internal/postgres/testdata/kobo_children.csv")
	f.Add([]byte("age,sex,school_status,works,work_hours_week,_index,_parent_index\n14,female,enrolled,yes,20,1,1\n"))
	hh, err := os.ReadFile(filepath.Join("..", "postgres", "testdata", "kobo_households.csv"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hr, err := NewHouseholdReader(bytes.NewReader(hh), "hh.csv")
		if err != nil {
			t.Fatal(err)
		}
		readAllHouseholds(t, hr)
		cr, err := NewChildReader(bytes.NewReader(data), "c.csv", hr)
		if err != nil {
			return
		}
		for {
			row, p, err := cr.Next()
			if err != nil {
				return
			}
			if p != nil {
				if p.Reason == "" {
					t.Fatalf("problem without a reason: %+v", p)
				}
				continue
			}
			if !strings.HasPrefix(row.HouseholdUUID, "k-") || row.Age < 0 || row.Age > 17 || row.Ordinal < 1 {
				t.Fatalf("accepted a child that breaks its invariants: %+v", row.Child)
			}
		}
	})
}

// FuzzReadCalendar: months stay 1..12 and indexes 0..1 whatever the input.
func FuzzReadCalendar(f *testing.F) {
	addFiles(f, "geodata/demo/calendar.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _, err := ReadCalendar(bytes.NewReader(data), "c.csv")
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Month < 1 || e.Month > 12 || e.LabourIdx < 0 || e.LabourIdx > 1 || e.Variety == "" {
				t.Fatalf("accepted %+v", e)
			}
		}
	})
}
