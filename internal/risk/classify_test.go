package risk

import (
	"strings"
	"testing"
)

func TestClassifyChild(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	r := m.ChildRule
	work := func(age int, week, day float64) Child {
		return Child{Age: age, Works: true, WorkHoursWeek: week, WorkHoursDay: day}
	}
	cases := []struct {
		name   string
		child  Child
		class  string
		reason string
	}{
		{"age 4 working is not counted", work(4, 10, 2), NotWorking, "not working"},
		{"age 5 any work", work(5, 1, 1), ChildLabour, "works at age 5"},
		{"age 12 any work", work(12, 2, 1), ChildLabour, "works at age 12"},
		{"age 12 not working", Child{Age: 12}, NotWorking, "not working"},
		{"age 13 light work", work(13, 15, 3), LightWork, "light work at age 13"},
		{"age 13 15.5 h a week", work(13, 15.5, 3), ChildLabour, "15.5 h a week"},
		{"age 14 exactly 15 h and 3 h", work(14, 15, 3), LightWork, "light work"},
		{"age 14 3.5 h a day", work(14, 10, 3.5), ChildLabour, "3.5 h a day"},
		{"age 14 in school hours", Child{Age: 14, Works: true, WorkHoursWeek: 5, WorkHoursDay: 1, WorksInSchoolHours: true}, ChildLabour, "school hours"},
		{"age 15 exactly 40 h", work(15, 40, 8), NotWorking, "permitted work at age 15"},
		{"age 15 41 h", work(15, 41, 8), ChildLabour, "41 h a week"},
		{"age 15 10 h a day within 40 h a week", work(15, 40, 10), NotWorking, "permitted"},
		{"age 17 45 h", work(17, 45, 9), ChildLabour, "45 h a week"},
		{"age 17 hazardous task", Child{Age: 17, Works: true, WorkHoursWeek: 10, WorkHoursDay: 2, Tasks: []string{"drying", "pesticide"}}, Hazardous, "pesticide"},
		{"age 17 green tobacco sickness", Child{Age: 17, Works: true, WorkHoursWeek: 10, WorkHoursDay: 2, Tasks: []string{"drying"}, GTSSymptoms: []string{"nausea"}}, Hazardous, "green tobacco sickness"},
		{"age 8 hazardous task while 'not working'", Child{Age: 8, Tasks: []string{"carry_heavy"}}, Hazardous, "carry_heavy"},
		{"age 16 non-hazardous tasks", Child{Age: 16, Works: true, WorkHoursWeek: 20, WorkHoursDay: 4, Tasks: []string{"drying", "folding_sorting"}}, NotWorking, "permitted"},
		{"age 18 is not a child", work(18, 60, 10), NotWorking, "not a child"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			class, reason := ClassifyChild(tc.child, r)
			if class != tc.class || !strings.Contains(reason, tc.reason) {
				t.Errorf("ClassifyChild(%+v) = %s, %q; want %s, %q", tc.child, class, reason, tc.class, tc.reason)
			}
		})
	}
}

func TestModelValidation(t *testing.T) {
	good, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if good.Version != "kesempatan-v1" {
		t.Errorf("default model version %q", good.Version)
	}
	cases := []struct {
		name   string
		change func(m *Model)
		want   string
	}{
		{"weights sum", func(m *Model) { m.Household.Weights["poverty"] = 20 }, "household.weights sum to 110, want 100"},
		{"unknown indicator", func(m *Model) { m.Village.Weights["luck"] = 0 }, `unknown indicator "luck"`},
		{"missing indicator", func(m *Model) { delete(m.Household.Weights, "school"); m.Household.Weights["poverty"] = 25 }, "school is missing"},
		{"tiers ordered", func(m *Model) { m.Tiers.Medium = 70 }, "tiers must be ordered"},
		{"12 months", func(m *Model) { m.Calendar["Paiton Voor-Oogst"] = m.Calendar["Paiton Voor-Oogst"][:11] }, "has 11 months, want 12"},
		{"index range", func(m *Model) { m.Calendar["X"] = []float64{0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0} }, `calendar "X" month 8: 2 is outside 0..1`},
		{"ages", func(m *Model) { m.ChildRule.OlderMinAge = 12 }, "child_rule ages must rise"},
		{"task codes", func(m *Model) { m.ChildRule.HazardousTasks = append(m.ChildRule.HazardousTasks, "juggling") }, `"juggling" is not a task code`},
		{"default variety", func(m *Model) { m.DefaultVariety = "Kasturi" }, `default_variety "Kasturi" has no calendar`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := DefaultModel()
			tc.change(m)
			err := m.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := ParseModel([]byte(`{"version":"x","weigths":{}}`), "typo.json"); err == nil || !strings.Contains(err.Error(), `typo.json: json: unknown field "weigths"`) {
		t.Errorf("a misspelt field: %v", err)
	}
}
