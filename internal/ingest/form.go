package ingest

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/kesempatan/riskmap/geodata/forms"
)

// The survey form (geodata/forms) is what the importer reads exports against:
// every way KoBoToolbox and ODK Central may spell a column (XML names with or
// without group paths, or the question labels in any of the form's
// languages) and every way they may write an answer (choice names or labels)
// is derived from it, so a column is recognised by the form's own questions.

// formField is one question of the form.
type formField struct {
	name, typ, list string
	repeat          bool                // inside the children repeat
	labels          map[string]string   // language -> label
	groups          []string            // enclosing groups' names, outermost first
	groupLabels     []map[string]string // their labels per language
}

// formChoice is one answer of a choice list.
type formChoice struct {
	name   string
	labels map[string]string
	filter string // the kecamatan column, for the desa list
}

// surveyForm is the parsed form.
type surveyForm struct {
	fields    []*formField
	byName    map[string]*formField
	lists     map[string][]formChoice
	languages []string
	// headers maps every spelling of a column to its canonical name, per
	// sheet: "household" (the main sheet) and "children" (the repeat).
	headers map[string]map[string]string
	// values maps, per list, every spelling of an answer (its name or any
	// label, case-insensitively) to its name.
	values map[string]map[string]string
	// areaOf maps "kecamatan code/desa label" to a desa code, and
	// desaByLabel a desa label to its codes (labels repeat across kecamatan).
	desaByLabel map[string][]string
	// maxWords is, per list, the most words in one of its labels: how far
	// multiValue looks ahead (labels may contain spaces).
	maxWords map[string]int
}

var (
	formOnce   sync.Once
	formParsed *surveyForm
	formErr    error

	visitOnce   sync.Once
	visitParsed *surveyForm
	visitErr    error
)

// theForm returns the embedded survey form, parsed once.
func theForm() (*surveyForm, error) {
	formOnce.Do(func() { formParsed, formErr = parseForm(forms.Sheet, "household", "children") })
	return formParsed, formErr
}

// theVisitForm returns the embedded case visit form, parsed once.
func theVisitForm() (*surveyForm, error) {
	visitOnce.Do(func() { visitParsed, visitErr = parseForm(forms.VisitSheet, "visit", "") })
	return visitParsed, visitErr
}

// dataTypes are the question types whose answers are exported.
var dataTypes = map[string]bool{"select_one": true, "select_multiple": true, "integer": true, "decimal": true, "text": true, "geopoint": true, "date": true,
	// The visit form computes case_id and programme_id from the case picked
	// from the work list; exports carry calculations like answers.
	"calculate": true, "select_one_from_file": true}

// parseForm reads a form's survey and choices sheets; main and repeat name
// its main sheet and its repeat's sheet ("" when it has none).
func parseForm(sheet func(string) ([][]string, error), main, repeatSheet string) (*surveyForm, error) {
	survey, err := sheet("survey")
	if err != nil {
		return nil, err
	}
	choices, err := sheet("choices")
	if err != nil {
		return nil, err
	}
	f := &surveyForm{byName: map[string]*formField{}, lists: map[string][]formChoice{}, headers: map[string]map[string]string{},
		values: map[string]map[string]string{}, desaByLabel: map[string][]string{}, maxWords: map[string]int{}}
	col := func(header []string) map[string]int {
		m := map[string]int{}
		for i, h := range header {
			m[h] = i
		}
		return m
	}
	sc := col(survey[0])
	for _, h := range survey[0] {
		if lang, ok := strings.CutPrefix(h, "label::"); ok {
			f.languages = append(f.languages, lang)
		}
	}
	labelsOf := func(row []string, c map[string]int) map[string]string {
		m := map[string]string{}
		for _, lang := range f.languages {
			if i, ok := c["label::"+lang]; ok && i < len(row) && row[i] != "" {
				m[lang] = row[i]
			}
		}
		return m
	}
	var groups []string
	var groupLabels []map[string]string
	repeat := false
	for _, row := range survey[1:] {
		typ, name := row[sc["type"]], row[sc["name"]]
		kind, list, _ := strings.Cut(typ, " ")
		switch kind {
		case "begin_group", "begin_repeat":
			groups = append(groups, name)
			groupLabels = append(groupLabels, labelsOf(row, sc))
			if kind == "begin_repeat" {
				repeat = true
			}
			continue
		case "end_group", "end_repeat":
			groups, groupLabels = groups[:len(groups)-1], groupLabels[:len(groupLabels)-1]
			if kind == "end_repeat" {
				repeat = false
			}
			continue
		}
		if !dataTypes[kind] {
			continue
		}
		fd := &formField{name: name, typ: kind, list: list, repeat: repeat, labels: labelsOf(row, sc),
			groups: append([]string(nil), groups...), groupLabels: append([]map[string]string(nil), groupLabels...)}
		f.fields = append(f.fields, fd)
		f.byName[name] = fd
	}
	cc := col(choices[0])
	for _, row := range choices[1:] {
		c := formChoice{name: row[cc["name"]], labels: labelsOf(row, cc)}
		if i, ok := cc["kecamatan"]; ok && i < len(row) {
			c.filter = row[i]
		}
		list := row[cc["list_name"]]
		f.lists[list] = append(f.lists[list], c)
	}
	for list, cs := range f.lists {
		m := map[string]string{}
		for _, c := range cs {
			m[strings.ToLower(c.name)] = c.name
		}
		for _, c := range cs { // labels after names: a name always means itself
			for _, l := range c.labels {
				f.maxWords[list] = max(f.maxWords[list], len(strings.Fields(l)), 1)
				k := strings.ToLower(strings.TrimSpace(l))
				if prev, ok := m[k]; ok && prev != c.name {
					if list != "desa" && list != "kecamatan" {
						return nil, fmt.Errorf("form: choices %s: label %q is used by both %s and %s", list, l, prev, c.name)
					}
					m[k] = "" // ambiguous: resolved by kecamatan for villages
					continue
				}
				m[k] = c.name
			}
			if list == "desa" {
				for _, l := range uniq(c.labels) {
					k := strings.ToLower(l)
					f.desaByLabel[k] = append(f.desaByLabel[k], c.name)
				}
			}
		}
		f.values[list] = m
	}
	f.headers[main] = f.spellings(false)
	if repeatSheet != "" {
		f.headers[repeatSheet] = f.spellings(true)
	}
	return f, nil
}

func uniq(m map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range m {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// spellings lists every header under which an export may write the questions
// of the main sheet (repeat false) or of the children repeat: the name or a
// label, alone or after its groups' names or labels joined by "/"
// (KoBoToolbox) or "-" (ODK Central); a geopoint's four parts; a
// select_multiple's 0/1 column per answer.
func (f *surveyForm) spellings(repeat bool) map[string]string {
	out := map[string]string{}
	bad := map[string]bool{}
	add := func(spelling, canonical string) {
		if spelling == "" || bad[spelling] {
			return
		}
		if prev, ok := out[spelling]; ok && prev != canonical {
			delete(out, spelling) // two questions share it: recognise neither by it
			bad[spelling] = true
			return
		}
		out[spelling] = canonical
	}
	langs := append([]string{""}, f.languages...) // "": XML names
	for _, fd := range f.fields {
		if fd.repeat != repeat {
			continue
		}
		for _, lang := range langs {
			base, prefixes := fd.name, [][2]string{{"", ""}}
			if lang != "" {
				base = fd.labels[lang]
				if base == "" {
					continue
				}
			}
			// Group paths: KoBoToolbox joins names or labels with "/", ODK
			// Central names with "-" (in the repeat's own sheet, relative to
			// the repeat). Both may leave them out.
			var slash, dash []string
			for i, g := range fd.groups {
				if lang == "" {
					slash = append(slash, g)
					if !(repeat && i == 0) {
						dash = append(dash, g)
					}
				} else if l := fd.groupLabels[i][lang]; l != "" {
					slash = append(slash, l)
				} else {
					slash = append(slash, g) // formpack falls back on the name
				}
			}
			if len(slash) > 0 {
				prefixes = append(prefixes, [2]string{strings.Join(slash, "/") + "/", "/"})
			}
			if len(dash) > 0 {
				prefixes = append(prefixes, [2]string{strings.Join(dash, "-") + "-", "-"})
			}
			for _, p := range prefixes {
				add(p[0]+base, fd.name)
				switch fd.typ {
				case "geopoint":
					for _, part := range [][2]string{{"latitude", "Latitude"}, {"longitude", "Longitude"}, {"altitude", "Altitude"}, {"precision", "Accuracy"}} {
						canonical := "_" + fd.name + "_" + part[0]
						if p[1] != "-" {
							add(p[0]+"_"+base+"_"+part[0], canonical) // formpack: household/_gps_latitude
							add("_"+p[0]+base+"_"+part[0], canonical) // "CSV (legacy)": _household/gps_latitude
						}
						if lang == "" && p[1] != "/" {
							add(p[0]+base+"-"+part[1], canonical) // ODK Central: household-gps-Latitude
						}
					}
				case "select_multiple":
					for _, c := range f.lists[fd.list] {
						add(p[0]+base+"/"+c.name, fd.name+"/"+c.name)
						if lang != "" && c.labels[lang] != "" {
							add(p[0]+base+"/"+c.labels[lang], fd.name+"/"+c.name)
						}
					}
				}
			}
		}
	}
	return out
}

// required lists the questions a sheet must have as columns (a geopoint as
// itself or its latitude and longitude; a select_multiple as itself or its
// 0/1 columns), and optional those whose absence is only a warning.
var (
	requiredColumns = map[string][]string{
		"household": {"consent", "village", "gps", "livelihood", "poverty_programme", "caregiver_education", "single_parent", "members", "working_adults"},
		"children": {"age", "sex", "school_status", "works", "work_hours_week", "work_hours_day", "work_school_hours", "tasks",
			"gts_symptoms", "disability", "special_needs", "orphan"},
		"visit": {"case_id", "visited_on", "kind", "outcome"},
	}
	optionalColumns = map[string][]string{
		"household": {"programme_id"},
		"children":  {"harvest_absence_days"},
		"visit":     {"programme_id", "child_working", "in_school", "actions", "action_status"},
	}
)

// value maps an answer written as a choice's name or label to the name; ok
// is false when it is neither.
func (f *surveyForm) value(list, v string) (string, bool) {
	name, ok := f.values[list][strings.ToLower(strings.TrimSpace(v))]
	return name, ok && name != ""
}

// multiValue splits a select_multiple answer: names separated by spaces, or
// labels (which may contain spaces themselves) separated by spaces, matched
// longest first.
func (f *surveyForm) multiValue(list, v string) ([]string, bool) {
	fields := strings.Fields(v)
	names := make([]string, 0, len(fields))
	allNames := true
	for _, w := range fields {
		if !f.isName(list, w) {
			allNames = false
			break
		}
		names = append(names, w)
	}
	if allNames {
		return names, true
	}
	names = names[:0]
	for i := 0; i < len(fields); {
		matched := 0
		for j := min(len(fields), i+f.maxWords[list]); j > i; j-- {
			if name, ok := f.value(list, strings.Join(fields[i:j], " ")); ok {
				names = append(names, name)
				matched = j - i
				break
			}
		}
		if matched == 0 {
			return nil, false
		}
		i += matched
	}
	return names, true
}

func (f *surveyForm) isName(list, v string) bool {
	for _, c := range f.lists[list] {
		if c.name == v {
			return true
		}
	}
	return false
}

// choiceNames lists a list's names, for messages.
func (f *surveyForm) choiceNames(list string) []string {
	var out []string
	for _, c := range f.lists[list] {
		out = append(out, c.name)
	}
	return out
}
