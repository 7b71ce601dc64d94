package ingest

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const koboHeader = "consent,household/village,_household/gps_latitude,_household/gps_longitude,_household/gps_precision,household/livelihood,household/poverty_programme,household/caregiver_education,household/single_parent,household/members,household/working_adults,_uuid,_submission_time,_index\n"

func TestHouseholdReaderRows(t *testing.T) {
	good := "yes,35.13.13.2003,-7.8,113.5,5,farm_labourer,pkh dtks,primary,no,5,2,u-1,2026-03-02T01:30:00,1"
	cases := []struct {
		name, row, column, reason string
	}{
		{"good", good, "", ""},
		{"consent blank", strings.Replace(good, "yes,", ",", 1), "consent", "missing value"},
		{"missing latitude", strings.Replace(good, "-7.8,", ",", 1), "_household/gps_latitude", "missing GPS position"},
		{"latitude out of range", strings.Replace(good, "-7.8,", "-97.8,", 1), "_household/gps_latitude", "out of range"},
		{"bad village code", strings.Replace(good, "35.13.13.2003", "35.8.9.2008", 1), "household/village", "neither a village code"},
		{"village name not on the list", strings.Replace(good, "35.13.13.2003", "Atlantis", 1), "household/village", "neither a village code"},
		{"repeated village name", strings.Replace(good, "35.13.13.2003", "Alastengah", 1), "household/village", "names 2 villages"},
		{"unknown livelihood", strings.Replace(good, "farm_labourer", "pirate", 1), "household/livelihood", `"pirate" is not one of`},
		{"none with others", strings.Replace(good, "pkh dtks", "none pkh", 1), "household/poverty_programme", "none cannot be chosen"},
		{"members not a number", strings.Replace(good, ",5,2,", ",five,2,", 1), "household/members", `"five" is not a whole number`},
		{"members zero", strings.Replace(good, ",5,2,", ",0,2,", 1), "household/members", "out of range"},
		{"more workers than members", strings.Replace(good, ",5,2,", ",2,3,", 1), "household/working_adults", "3 working adults in a household of 2"},
		{"bad time", strings.Replace(good, "2026-03-02T01:30:00", "yesterday", 1), "_submission_time", "not a date"},
		{"yes/no", strings.Replace(good, "primary,no", "primary,maybe", 1), "household/single_parent", "not yes or no"},
		{"missing uuid", strings.Replace(good, "u-1,", ",", 1), "_uuid", "missing value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hr, err := NewHouseholdReader(strings.NewReader(koboHeader+tc.row+"\n"), "hh.csv")
			if err != nil {
				t.Fatal(err)
			}
			row, p, err := hr.Next()
			if err != nil {
				t.Fatal(err)
			}
			if tc.reason == "" {
				if p != nil {
					t.Fatalf("problem %v, want none", p)
				}
				if row.SurveyUUID != "u-1" || row.Lat != -7.8 || row.Lon != 113.5 || row.Members != 5 || len(row.PovertyProgrammes) != 2 {
					t.Errorf("household = %+v", row.Household)
				}
				return
			}
			if p == nil {
				t.Fatalf("no problem, want %s: %s", tc.column, tc.reason)
			}
			if p.Column != tc.column || !strings.Contains(p.Reason, tc.reason) || p.Row != 2 || p.File != "hh.csv" || p.Raw == "" {
				t.Errorf("problem = %+v, want row 2 column %s reason containing %q", p, tc.column, tc.reason)
			}
			if _, _, err := hr.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("after the last row: %v, want io.EOF", err)
			}
		})
	}
}

func TestHouseholdReaderDuplicates(t *testing.T) {
	row := "yes,35.13.13.2003,-7.8,113.5,5,farm_labourer,pkh,primary,no,5,2,u-1,,1\n"
	hr, err := NewHouseholdReader(strings.NewReader(koboHeader+row+strings.Replace(row, ",1\n", ",2\n", 1)), "hh.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, p, _ := hr.Next(); p != nil {
		t.Fatalf("first row: %v", p)
	}
	_, p, _ := hr.Next()
	if p == nil || !strings.Contains(p.Reason, "duplicate submission: row 2") {
		t.Errorf("second row with the same uuid: %v, want a duplicate problem", p)
	}
}

func TestHeaderDetection(t *testing.T) {
	cases := []struct{ name, header, format, err string }{
		{"kobo semicolons", strings.ReplaceAll(koboHeader, ",", ";"), KoBo, ""},
		{"kobo tabs", strings.ReplaceAll(koboHeader, ",", "\t"), KoBo, ""},
		{"odk", "SubmissionDate,consent,household-village,household-gps-Latitude,household-gps-Longitude,household-livelihood,household-poverty_programme,household-caregiver_education,household-single_parent,household-members,household-working_adults,KEY\n", ODK, ""},
		{"a question missing", strings.Replace(koboHeader, "household/members,", "", 1), "", "question(s) members have no column"},
		{"neither", "name,age\n", "", "not a household sheet of the Kesempatan survey"},
		{"empty", "", "", "empty file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hr, err := NewHouseholdReader(strings.NewReader(tc.header), "x.csv")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "x.csv") {
					t.Fatalf("err = %v, want one naming x.csv and %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if hr.Format() != tc.format {
				t.Errorf("format %s, want %s", hr.Format(), tc.format)
			}
			if len(hr.t.cols) < 3 {
				t.Errorf("columns %v: the delimiter was not detected", hr.t.cols)
			}
		})
	}
}

func TestChildReaderRows(t *testing.T) {
	hr, err := NewHouseholdReader(strings.NewReader(koboHeader+"yes,35.13.13.2003,-7.8,113.5,5,farm_labourer,pkh,primary,no,5,2,u-1,,1\n"), "hh.csv")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := hr.Next(); err != nil {
			break
		}
	}
	header := "age,sex,school_status,harvest_absence_days,works,work_hours_week,work_hours_day,work_school_hours,tasks,gts_symptoms,disability,special_needs,orphan,_index,_parent_index\n"
	good := "14,female,enrolled,3,yes,20,4,no,harvest_green_leaf,nausea,no,no,no,1,1"
	cases := []struct{ name, row, column, reason string }{
		{"good", good, "", ""},
		{"age abc", strings.Replace(good, "14,", "abc,", 1), "age", `"abc" is not a whole number`},
		{"age 18", strings.Replace(good, "14,", "18,", 1), "age", "out of range 0..17"},
		{"no parent", strings.TrimSuffix(good, ",1") + ",7", "_parent_index", `"7" matches no household`},
		{"works without hours", strings.Replace(good, "yes,20,4", "yes,,", 1), "work_hours_week", "a blank is not 0 hours"},
		{"works, weekly hours blank", strings.Replace(good, "yes,20,4", "yes,,2", 1), "work_hours_week", "work_hours_week is blank"},
		{"works, daily hours blank", strings.Replace(good, "yes,20,4", "yes,20,", 1), "work_hours_day", "work_hours_day is blank"},
		{"works, zero hours", strings.Replace(good, "yes,20,4", "yes,0,0", 1), "work_hours_week", "no hours"},
		{"dropped out at 4", strings.Replace(strings.Replace(good, "14,", "4,", 1), "enrolled", "dropped_out", 1), "school_status", "cannot have dropped out"},
		{"not school age at 12", strings.Replace(strings.Replace(good, "14,", "12,", 1), "enrolled", "not_school_age", 1), "school_status", "is of school age"},
		{"day above week", strings.Replace(good, "yes,20,4", "yes,2,4", 1), "work_hours_day", "4 hours a day but 2 a week"},
		{"unknown task", strings.Replace(good, "harvest_green_leaf", "juggling", 1), "tasks", `"juggling" is not one of`},
		{"sex", strings.Replace(good, "female", "f", 1), "sex", `"f" is not one of`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cr, err := NewChildReader(strings.NewReader(header+tc.row+"\n"), "c.csv", hr)
			if err != nil {
				t.Fatal(err)
			}
			row, p, err := cr.Next()
			if err != nil {
				t.Fatal(err)
			}
			if tc.reason == "" {
				if p != nil {
					t.Fatalf("problem %v", p)
				}
				if row.HouseholdUUID != "u-1" || row.Age != 14 || row.WorkHoursWeek != 20 || row.Tasks[0] != "harvest_green_leaf" {
					t.Errorf("child = %+v", row.Child)
				}
				return
			}
			if p == nil || p.Column != tc.column || !strings.Contains(p.Reason, tc.reason) || p.Row != 2 {
				t.Errorf("problem = %+v, want column %s reason containing %q", p, tc.column, tc.reason)
			}
		})
	}
}

func TestReadBoundariesProblems(t *testing.T) {
	feature := func(props, geom string) string {
		return `{"type":"Feature","properties":` + props + `,"geometry":` + geom + `}`
	}
	square := `{"type":"Polygon","coordinates":[[[113.4,-7.8],[113.5,-7.8],[113.5,-7.7],[113.4,-7.7],[113.4,-7.8]]]}`
	open := `{"type":"Polygon","coordinates":[[[113.4,-7.8],[113.5,-7.8],[113.5,-7.7],[113.4,-7.7]]]}`
	fc := `{"type":"FeatureCollection","features":[` + strings.Join([]string{
		feature(`{"code":"35.13.13.2003","name":"Alasnyiur","kecamatan_code":"35.13.13"}`, square),
		feature(`{"code":"35.13.13.2015","name":"Alaskandang"}`, `{"type":"LineString","coordinates":[[113.4,-7.8],[113.5,-7.8]]}`),
		feature(`{"code":"35.13.13.2016","name":"Far"}`, `{"type":"Polygon","coordinates":[[[213.4,-7.8],[113.5,-7.8],[113.5,-7.7],[213.4,-7.8]]]}`),
		feature(`{"name":"Nameless code"}`, square),
		feature(`{"code":"35.13.13.2003","name":"Again"}`, square),
		feature(`{"code":"35.13.13","name":"Wrong level"}`, square),
		feature(`{"code":"35.13.10.2006","name":"Pakuniran","kecamatan_code":"35.13.13"}`, square),
		feature(`{"code":"35.13.10.2010","name":"Glagah"}`, open),
		feature(`{"code":"35.13.10.2011","name":"No geometry"}`, `null`),
		feature(`{"code":false,"name":"Boolean code"}`, square),
		feature(`{"code":35.13,"name":"Number code"}`, square),
		feature(`{"code":"35.13.10.2012","name":["A"]}`, square),
	}, ",") + `]}`
	areas, problems, err := ReadBoundaries(strings.NewReader(fc), "desa.geojson", BoundaryOptions{Level: "desa"})
	if err != nil {
		t.Fatal(err)
	}
	if len(areas) != 2 || areas[0].Code != "35.13.13.2003" || areas[0].ParentCode != "35.13.13" || areas[1].Note != "ring closed" {
		t.Errorf("areas = %+v", areas)
	}
	want := []struct {
		row            int
		column, reason string
	}{
		{1, "geometry", "geometry type LineString"},
		{2, "geometry", "out of range"},
		{3, "code", "missing code"},
		{4, "code", "duplicate code: feature 0"},
		{5, "code", "is not a desa code"},
		{6, "kecamatan_code", "does not contain code"},
		{8, "geometry", "missing geometry"},
		{9, "code", "code must be a JSON string, not the boolean false"},
		{10, "code", "code must be a JSON string, not the number 35.13"},
		{11, "name", "name must be a JSON string, not an array"},
	}
	if len(problems) != len(want) {
		t.Fatalf("problems:\n%v\nwant %d", problems, len(want))
	}
	for i, w := range want {
		p := problems[i]
		if p.Row != w.row || p.Column != w.column || !strings.Contains(p.Reason, w.reason) || p.Raw == "" {
			t.Errorf("problem %d = %+v, want feature %d %s %q", i, p, w.row, w.column, w.reason)
		}
	}
	if !strings.Contains(problems[0].Error(), "desa.geojson: feature 1 (35.13.13.2015): geometry: geometry type LineString") {
		t.Errorf("message %q does not name file, feature, code, field and reason", problems[0].Error())
	}
	for _, bad := range []string{`{"type":"Feature"}`, `not json`, `{"type":"FeatureCollection","features":[}`} {
		if _, _, err := ReadBoundaries(strings.NewReader(bad), "x.geojson", BoundaryOptions{Level: "desa"}); err == nil {
			t.Errorf("ReadBoundaries(%q) = nil error", bad)
		}
	}
}

func TestReadCalendar(t *testing.T) {
	in := "variety,month,labour_index,note\nPVO,1,0.1,wet\nPVO,13,0.5,\nPVO,2,1.5,\nPVO,1,0.2,\n,3,0.1,\n"
	entries, problems, err := ReadCalendar(strings.NewReader(in), "cal.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Month != 1 || entries[0].LabourIdx != 0.1 {
		t.Errorf("entries = %+v", entries)
	}
	want := []string{"cal.csv: row 3 (PVO): month: \"13\" is not a month 1..12", "cal.csv: row 4 (PVO): labour_index", "row 5 (PVO): month: duplicate: row 2", "row 6: variety: missing variety"}
	if len(problems) != len(want) {
		t.Fatalf("problems = %v", problems)
	}
	for i, w := range want {
		if !strings.Contains(problems[i].Error(), w) {
			t.Errorf("problem %d = %q, want %q", i, problems[i].Error(), w)
		}
	}
}

func TestRawAt(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "postgres", "testdata", "kobo_households.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hr, err := NewHouseholdReader(f, "kobo_households.csv")
	if err != nil {
		t.Fatal(err)
	}
	row, _, err := hr.Next()
	if err != nil {
		t.Fatal(err)
	}
	raw := RawAt(f, row.Offset)
	if !strings.HasPrefix(raw, "2026-03-02T08:00:00+07:00;") || !strings.HasSuffix(raw, ";k-0001;2026-03-02T01:30:00;1") {
		t.Errorf("RawAt = %q", raw)
	}
}
