package forms

import (
	"slices"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/risk"
)

// TestChoicesMatchDomain keeps the form's answer codes and the importer's
// allowed codes the same: a code added to one and not the other would make
// every survey that uses it fail to import.
func TestChoicesMatchDomain(t *testing.T) {
	rows, err := Sheet("choices")
	if err != nil {
		t.Fatal(err)
	}
	lists := map[string][]string{}
	for _, r := range rows[1:] {
		lists[r[0]] = append(lists[r[0]], r[1])
	}
	cases := []struct {
		list   string
		domain []string
		none   bool // the form adds "none" to a select_multiple; the importer reads it as the empty list
	}{
		{"livelihood", risk.Livelihoods, false},
		{"poverty_programme", risk.PovertyProgrammes, false},
		{"education", risk.EducationLevels, false},
		{"sex", risk.Sexes, false},
		{"school_status", risk.SchoolStatuses, false},
		{"task", risk.ChildTasks, false},
		{"gts", risk.GTSSymptoms, true},
		{"orphan", risk.OrphanStatuses, false},
		{"yes_no", []string{"yes", "no"}, false},
	}
	for _, tc := range cases {
		want := tc.domain
		if tc.none {
			want = append(slices.Clone(want), "none")
		}
		if !slices.Equal(lists[tc.list], want) {
			t.Errorf("choices %s = %v, domain has %v", tc.list, lists[tc.list], want)
		}
	}
}

// TestSurveyFields checks that the form asks every question the importer reads.
func TestSurveyFields(t *testing.T) {
	rows, err := Sheet("survey")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, r := range rows[1:] {
		names[r[1]] = r[0]
	}
	want := map[string]string{
		"consent": "select_one yes_no", "village": "text", "gps": "geopoint", "livelihood": "select_multiple livelihood",
		"poverty_programme": "select_multiple poverty_programme", "caregiver_education": "select_one education",
		"single_parent": "select_one yes_no", "members": "integer", "working_adults": "integer", "children": "end_repeat",
		"age": "integer", "sex": "select_one sex", "school_status": "select_one school_status", "harvest_absence_days": "integer",
		"works": "select_one yes_no", "work_hours_week": "decimal", "work_hours_day": "decimal",
		"work_school_hours": "select_one yes_no", "tasks": "select_multiple task", "gts_symptoms": "select_multiple gts",
		"disability": "select_one yes_no", "special_needs": "select_one yes_no", "orphan": "select_one orphan",
	}
	for name, typ := range want {
		if names[name] != typ {
			t.Errorf("field %s has type %q, want %q", name, names[name], typ)
		}
	}
	for name := range names {
		for _, word := range strings.Split(strings.ToLower(name), "_") {
			if slices.Contains([]string{"name", "nama", "nik", "ktp"}, word) {
				t.Errorf("field %s: the form must not ask for names or national ID numbers", name)
			}
		}
	}
}
