package forms

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kesempatan/riskmap/internal/push"
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
		"consent": "select_one yes_no", "kecamatan": "select_one kecamatan", "village": "select_one desa", "gps": "geopoint", "livelihood": "select_multiple livelihood",
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

// TestXLSFormRules checks the form against the XLSForm rules that pyxform
// enforces (and that its warnings name), so a form that KoBoToolbox or ODK
// Central would refuse, or would show as "-" to an enumerator, fails here.
func TestXLSFormRules(t *testing.T) {
	t.Run("household", func(t *testing.T) { checkXLSForm(t, Sheet) })
	t.Run("visit", func(t *testing.T) { checkXLSForm(t, VisitSheet) })
}

func checkXLSForm(t *testing.T, sheet func(string) ([][]string, error)) {
	survey, err := sheet("survey")
	if err != nil {
		t.Fatal(err)
	}
	choices, err := sheet("choices")
	if err != nil {
		t.Fatal(err)
	}
	settings, err := sheet("settings")
	if err != nil {
		t.Fatal(err)
	}
	col := func(header []string, name string) int { return slices.Index(header, name) }
	sh, ch := survey[0], choices[0]

	// Languages: every label, hint and constraint message in every language,
	// Bahasa Indonesia first and the default.
	var langs []string
	for _, h := range sh {
		if l, ok := strings.CutPrefix(h, "label::"); ok {
			langs = append(langs, l)
		}
	}
	if len(langs) < 2 || langs[0] != "Bahasa Indonesia (id)" {
		t.Errorf("label languages %v: want Bahasa Indonesia (id) first, and English", langs)
	}
	if d := settings[1][col(settings[0], "default_language")]; d != langs[0] {
		t.Errorf("default_language %q, want %q", d, langs[0])
	}
	for _, kind := range []string{"label", "hint", "constraint_message"} {
		for _, l := range langs {
			if col(sh, kind+"::"+l) < 0 {
				t.Errorf("survey has no %s::%s column", kind, l)
			}
		}
	}
	names := map[string]bool{}
	lists := map[string]map[string]bool{}
	for _, r := range choices[1:] {
		if lists[r[0]] == nil {
			lists[r[0]] = map[string]bool{}
		}
		if lists[r[0]][r[1]] {
			t.Errorf("choices %s: %s twice", r[0], r[1])
		}
		lists[r[0]][r[1]] = true
		for _, l := range langs {
			if i := col(ch, "label::"+l); i < 0 || r[i] == "" {
				t.Errorf("choice %s/%s has no label in %s", r[0], r[1], l)
			}
		}
	}
	xmlName := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	for _, r := range survey[1:] {
		if n := r[col(sh, "name")]; n != "" && !strings.HasPrefix(r[0], "end_") {
			if !xmlName.MatchString(n) {
				t.Errorf("field name %q is not a valid XML name", n)
			}
			if names[n] {
				t.Errorf("field %s defined twice", n)
			}
			names[n] = true
		}
	}
	var labelCols []string
	for _, l := range langs {
		labelCols = append(labelCols, "label::"+l)
	}
	var stack []string
	ref := regexp.MustCompile(`\$\{([^}]+)\}`)
	for i, r := range survey[1:] {
		line := i + 2
		typ, name := r[col(sh, "type")], r[col(sh, "name")]
		kind, list, _ := strings.Cut(typ, " ")
		switch kind {
		case "begin_group", "begin_repeat":
			stack = append(stack, kind+" "+name)
		case "end_group", "end_repeat":
			want := "begin_" + strings.TrimPrefix(kind, "end_") + " " + name
			if len(stack) == 0 || stack[len(stack)-1] != want {
				t.Errorf("survey line %d: %s %s closes %v", line, kind, name, stack)
			} else {
				stack = stack[:len(stack)-1]
			}
		case "select_one", "select_multiple":
			if lists[list] == nil {
				t.Errorf("survey line %d: %s uses list %q, which the choices sheet lacks", line, name, list)
			}
			if kind == "select_multiple" {
				for c := range lists[list] {
					if strings.ContainsAny(c, " \t") {
						t.Errorf("list %s: choice %q has a space, which a select_multiple cannot hold", list, c)
					}
				}
			}
		}
		hasLabel := false
		for _, l := range langs {
			if r[col(sh, "label::"+l)] != "" {
				hasLabel = true
			}
		}
		for _, l := range langs {
			if hasLabel && r[col(sh, "label::"+l)] == "" {
				t.Errorf("survey line %d (%s): no label in %s", line, name, l)
			}
		}
		for _, kind := range []string{"hint", "constraint_message"} {
			given := 0
			for _, l := range langs {
				if r[col(sh, kind+"::"+l)] != "" {
					given++
				}
			}
			if given != 0 && given != len(langs) {
				t.Errorf("survey line %d (%s): %s in %d of %d languages (the others would show \"-\")", line, name, kind, given, len(langs))
			}
		}
		if r[col(sh, "constraint")] != "" && r[col(sh, "constraint_message::"+langs[0])] == "" && !strings.HasPrefix(r[col(sh, "constraint")], "number(") {
			t.Errorf("survey line %d (%s): a constraint without a message", line, name)
		}
		for _, c := range append([]string{"relevant", "constraint", "required", "choice_filter", "calculation"}, labelCols...) {
			if col(sh, c) < 0 {
				continue
			}
			for _, m := range ref.FindAllStringSubmatch(r[col(sh, c)], -1) {
				if !names[m[1]] {
					t.Errorf("survey line %d (%s): %s names ${%s}, which is no field", line, name, c, m[1])
				}
			}
		}
		if kind == "calculate" && (col(sh, "calculation") < 0 || r[col(sh, "calculation")] == "") {
			t.Errorf("survey line %d (%s): a calculate without a calculation", line, name)
		}
		if f := r[col(sh, "choice_filter")]; f != "" {
			column, _, _ := strings.Cut(f, "=")
			if col(ch, strings.TrimSpace(column)) < 0 {
				t.Errorf("survey line %d (%s): choice_filter on %q, which the choices sheet lacks", line, name, column)
			}
		}
	}
	if len(stack) != 0 {
		t.Errorf("groups or repeats left open: %v", stack)
	}
	// The cascade: every village's kecamatan is on the kecamatan list.
	for _, r := range choices[1:] {
		if r[0] == "desa" && !lists["kecamatan"][r[col(ch, "kecamatan")]] {
			t.Errorf("village %s filters on kecamatan %q, which is not on the list", r[1], r[col(ch, "kecamatan")])
		}
	}
	if lists["desa"] != nil && (len(lists["desa"]) != 783 || len(lists["kecamatan"]) != 76) {
		t.Errorf("%d villages and %d kecamatan on the form, want the 783 and 76 of geodata/boundaries", len(lists["desa"]), len(lists["kecamatan"]))
	}
}

// TestVisitChoicesMatchDomain keeps the visit form's answer codes equal to
// the case rules' and the model's remediation catalogue.
func TestVisitChoicesMatchDomain(t *testing.T) {
	rows, err := VisitSheet("choices")
	if err != nil {
		t.Fatal(err)
	}
	lists := map[string][]string{}
	for _, r := range rows[1:] {
		lists[r[0]] = append(lists[r[0]], r[1])
	}
	m, err := risk.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	for list, want := range map[string][]string{"visit_kind": risk.VisitKinds, "visit_outcome": risk.VisitOutcomes,
		"action_status": risk.ActionStatuses, "remediation": m.Cases.RemediationCodes(), "yes_no": {"yes", "no"}} {
		if !slices.Equal(lists[list], want) {
			t.Errorf("visit choices %s = %v, domain has %v", list, lists[list], want)
		}
	}
	survey, err := VisitSheet("survey")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range survey[1:] {
		if r[0] == "text" {
			t.Errorf("visit form question %s is free text: the form must not invite names", r[1])
		}
	}
}

// TestVisitFormReadsTheWorkList checks the visit form against the rules
// of ODK's entities (the XForms entities spec and pyxform's entities sheet)
// and of select_one_from_file, and against what riskmap cases push writes:
// the case is picked from the list the push fills (dataset "cases" on
// Central, cases.csv on KoBoToolbox), case_id and programme_id are computed
// from the pick (nobody retypes them), every property the form reads or
// updates is one the push writes, and the entity it updates is the pick.
func TestVisitFormReadsTheWorkList(t *testing.T) {
	survey, err := VisitSheet("survey")
	if err != nil {
		t.Fatal(err)
	}
	entities, err := VisitSheet("entities")
	if err != nil {
		t.Fatal(err)
	}
	sh := survey[0]
	col := func(name string) int { return slices.Index(sh, name) }
	props := append([]string{"name", "label"}, push.Properties...)
	if len(entities) != 2 || entities[0][0] != "list_name" || entities[0][1] != "entity_id" {
		t.Fatalf("entities sheet %v: want list_name, entity_id and one row", entities)
	}
	list, entityID := entities[1][0], entities[1][1]
	if list != "cases" {
		t.Errorf("the form updates list %q; riskmap cases push fills \"cases\"", list)
	}
	fields := map[string][]string{}
	var files []string
	for _, r := range survey[1:] {
		fields[r[1]] = r
		if f, ok := strings.CutPrefix(r[0], "select_one_from_file "); ok {
			files = append(files, f)
			if f != list+".csv" {
				t.Errorf("%s picks from %s; the entity list is %s.csv", r[1], f, list)
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no question picks the case from the list")
	}
	m := regexp.MustCompile(`^\$\{([a-z_]+)\}$`).FindStringSubmatch(entityID)
	if m == nil || fields[m[1]] == nil {
		t.Fatalf("entity_id %q names no field", entityID)
	}
	pick := fields[m[1]]
	if pick[0] != "calculate" || !strings.Contains(pick[col("calculation")], "${case_map}") || !strings.Contains(pick[col("calculation")], "${case_list}") {
		t.Errorf("the entity updated is %s = %q, not the case picked on the map or the list", m[1], pick[col("calculation")])
	}
	lookup := regexp.MustCompile(`instance\('([^']+)'\)/root/item\[name = \$\{([a-z_]+)\}\]/([a-z_]+)`)
	for _, want := range []string{"case_id", "programme_id"} {
		r := fields[want]
		got := lookup.FindStringSubmatch(r[col("calculation")])
		if r == nil || r[0] != "calculate" || got == nil || got[1] != list || got[2] != m[1] || got[3] != want {
			t.Errorf("%s must be computed from the picked entity's %s, not typed: %v", want, want, r)
		}
	}
	for _, r := range survey[1:] {
		for _, got := range lookup.FindAllStringSubmatch(r[col("calculation")], -1) {
			if got[1] != list || !slices.Contains(props, got[3]) {
				t.Errorf("%s reads %s of instance %s, which the push does not write", r[1], got[3], got[1])
			}
		}
		if to := r[col("save_to")]; to != "" {
			if to == "name" || to == "label" || strings.HasPrefix(to, "__") || !slices.Contains(push.Properties, to) {
				t.Errorf("%s saves to %q: not a property the push writes (or a reserved name)", r[1], to)
			}
		}
	}
}
