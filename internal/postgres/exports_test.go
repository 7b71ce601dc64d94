package postgres_test

// Survey exports written exactly as KoBoToolbox and ODK Central lay them
// out, each loaded into a real PostGIS and compared with the same survey
// loaded from plain XML names. The layouts follow the tools' source:
//   - KoBoToolbox (formpack, src/formpack/reporting/export.py and
//     schema/fields.py): headers are XML names or labels in a language,
//     groups joined by "/" or left out; a geopoint is its own column and
//     _gps_latitude, _gps_longitude, _gps_altitude, _gps_precision after its
//     group path; a select_multiple is one column of answers separated by
//     spaces ("summary"), a 0/1 column per answer named field/answer
//     ("details"), or both; an unanswered select_multiple is blank in every
//     column. The CSV export is ";"-separated with every value quoted and
//     holds only the main sheet; the XLS(X) export has a sheet per repeat,
//     linked by _index and _parent_index, numbers as number cells.
//     "CSV (legacy)" (the old kobocat export) flattens repeats into
//     children[N]/... columns, splits select_multiple into True/False
//     columns, writes "n/a" for unanswered questions and _household/gps_latitude.
//   - ODK Central (lib/data/briefcase.js): SubmissionDate first; groups
//     joined by "-" (or left out); a geopoint as name-Latitude, -Longitude,
//     -Altitude, -Accuracy; split select_multiple columns name/answer with
//     0 by default; KEY, SubmitterID, ... at the end; a repeat's own CSV
//     with names relative to the repeat and PARENT_KEY, KEY
//     (uuid:.../children[1]); "Download all" is a zip of FORM.csv and
//     FORM-children.csv.

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/kesempatan/riskmap/geodata/forms"
	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// The survey every layout writes: XML values by question name.
type xChild map[string]string
type xHousehold struct {
	fields   map[string]string
	children []xChild
}

var exportSurvey = []xHousehold{
	{map[string]string{"uuid": "k-0001", "consent": "yes", "kecamatan": "35.13.13", "village": "35.13.13.2003", "lat": "-7.8094", "lon": "113.4998", "alt": "210", "acc": "5",
		"livelihood": "farm_labourer tobacco_grower", "poverty_programme": "pkh dtks", "caregiver_education": "primary", "single_parent": "no", "members": "5", "working_adults": "2"},
		[]xChild{
			{"age": "14", "sex": "female", "school_status": "enrolled", "harvest_absence_days": "6", "works": "yes", "work_hours_week": "20", "work_hours_day": "4",
				"work_school_hours": "no", "tasks": "harvest_green_leaf folding_sorting", "gts_symptoms": "nausea", "disability": "no", "special_needs": "no", "orphan": "no"},
			{"age": "9", "sex": "male", "school_status": "enrolled", "harvest_absence_days": "0", "works": "no", "disability": "no", "special_needs": "yes", "orphan": "father"},
		}},
	{map[string]string{"uuid": "k-0002", "consent": "yes", "kecamatan": "35.13.13", "village": "35.13.13.2003", "lat": "-7.8101", "lon": "113.5012", "alt": "205", "acc": "4.5",
		"livelihood": "farm_labourer", "poverty_programme": "none", "caregiver_education": "none", "single_parent": "yes", "members": "4", "working_adults": "1"},
		[]xChild{
			{"age": "16", "sex": "male", "school_status": "dropped_out", "works": "yes", "work_hours_week": "45", "work_hours_day": "9", "tasks": "carry_heavy",
				"disability": "no", "special_needs": "no", "orphan": "no"},
			{"age": "3", "sex": "female", "school_status": "not_school_age", "disability": "no", "special_needs": "no", "orphan": "no"},
		}},
	{map[string]string{"uuid": "k-0003", "consent": "yes", "kecamatan": "35.13.10", "village": "35.13.10.2006", "lat": "-7.8130", "lon": "113.5220", "alt": "200", "acc": "3",
		"livelihood": "tobacco_sharecropper other", "poverty_programme": "bpnt", "caregiver_education": "junior_secondary", "single_parent": "no", "members": "6", "working_adults": "3"},
		[]xChild{
			{"age": "12", "sex": "female", "school_status": "enrolled", "harvest_absence_days": "10", "works": "yes", "work_hours_week": "12.5", "work_hours_day": "2.5",
				"work_school_hours": "yes", "tasks": "drying", "disability": "no", "special_needs": "no", "orphan": "both"},
		}},
	{map[string]string{"uuid": "k-0004", "consent": "yes", "kecamatan": "35.13.10", "village": "35.13.10.2006", "lat": "-7.8141", "lon": "113.5231", "alt": "198", "acc": "6",
		"livelihood": "trader", "poverty_programme": "none", "caregiver_education": "senior_secondary", "single_parent": "no", "members": "2", "working_adults": "2"}, nil},
	{map[string]string{"uuid": "k-0005", "consent": "no"}, nil},
	{map[string]string{"uuid": "k-0006", "consent": "yes", "kecamatan": "35.13.13", "village": "35.13.13.2003", "lat": "-7.8090", "lon": "113.4990", "alt": "211", "acc": "7.5",
		"livelihood": "tobacco_grower", "poverty_programme": "pip", "caregiver_education": "primary", "single_parent": "no", "members": "3", "working_adults": "2"},
		[]xChild{
			{"age": "7", "sex": "male", "school_status": "enrolled", "harvest_absence_days": "2", "works": "yes", "work_hours_week": "3", "work_hours_day": "1",
				"work_school_hours": "no", "tasks": "weeding_watering harvest_green_leaf", "gts_symptoms": "none", "disability": "yes", "special_needs": "no", "orphan": "mother"},
		}},
}

const (
	wantHouseholds = 5 // k-0005 did not consent
	wantChildren   = 6
)

// question is one column-producing question of the form.
type question struct {
	name, typ, list string
	labels          map[string]string
	group           string // the enclosing group's name ("" at the top)
	groupLabels     map[string]string
}

// formQuestions reads the form's household and child questions in order.
func formQuestions(t *testing.T) (hh, ch []question, choiceLabel func(list, name, lang string) string) {
	t.Helper()
	survey, err := forms.Sheet("survey")
	if err != nil {
		t.Fatal(err)
	}
	choices, err := forms.Sheet("choices")
	if err != nil {
		t.Fatal(err)
	}
	col := func(h []string, n string) int { return slices.Index(h, n) }
	sh := survey[0]
	langs := []string{"Bahasa Indonesia (id)", "English (en)"}
	var group string
	var groupLabels map[string]string
	for _, r := range survey[1:] {
		kind, list, _ := strings.Cut(r[col(sh, "type")], " ")
		labels := map[string]string{}
		for _, l := range langs {
			labels[l] = r[col(sh, "label::"+l)]
		}
		switch kind {
		case "begin_group", "begin_repeat":
			group, groupLabels = r[col(sh, "name")], labels
			continue
		case "end_group", "end_repeat":
			group = ""
			continue
		case "select_one", "select_multiple", "integer", "decimal", "geopoint", "text":
		default:
			continue
		}
		q := question{name: r[col(sh, "name")], typ: kind, list: list, labels: labels, group: group, groupLabels: groupLabels}
		if group == "children" {
			ch = append(ch, q)
		} else {
			hh = append(hh, q)
		}
	}
	ch0 := choices[0]
	labelOf := map[string]string{}
	listNames := map[string][]string{}
	for _, r := range choices[1:] {
		for _, l := range langs {
			labelOf[r[0]+"|"+r[1]+"|"+l] = r[col(ch0, "label::"+l)]
		}
		listNames[r[0]] = append(listNames[r[0]], r[1])
	}
	choiceLabel = func(list, name, lang string) string {
		if name == "*" {
			return strings.Join(listNames[list], " ")
		}
		return labelOf[list+"|"+name+"|"+lang]
	}
	return hh, ch, choiceLabel
}

// layout is one way a tool writes the export.
type layout struct {
	odk          bool
	groups       bool   // group names in headers
	lang         string // "": XML names and values; else labels in this language
	multi        string // summary, details or both
	numbers      bool   // XLSX: numbers as number cells
	decimalComma bool   // a spreadsheet in an Indonesian locale saved it
}

// sheet is a header and rows of cells (string, or float64 for number cells).
type sheet struct {
	header []string
	rows   [][]any
}

// write lays the survey out as the tool would: the main sheet and the
// children's sheet.
func (l layout) write(t *testing.T) (main, children sheet) {
	hh, ch, choiceLabel := formQuestions(t)
	value := func(q question, v string) any {
		if v == "" {
			return ""
		}
		switch q.typ {
		case "select_one":
			if l.lang != "" {
				return choiceLabel(q.list, v, l.lang)
			}
		case "select_multiple":
			if l.lang != "" {
				var ls []string
				for _, c := range strings.Fields(v) {
					ls = append(ls, choiceLabel(q.list, c, l.lang))
				}
				return strings.Join(ls, " ")
			}
		case "integer", "decimal":
			if l.numbers {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
			if l.decimalComma {
				return strings.Replace(v, ".", ",", 1)
			}
		}
		return v
	}
	num := func(v string) any {
		if l.numbers && v != "" {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
		if l.decimalComma {
			return strings.Replace(v, ".", ",", 1)
		}
		return v
	}
	label := func(q question) string {
		if l.lang != "" {
			return q.labels[l.lang]
		}
		return q.name
	}
	prefix := func(q question, repeatSheet bool) string {
		if !l.groups || q.group == "" {
			return ""
		}
		if l.odk {
			if repeatSheet {
				return "" // relative to the repeat
			}
			return q.group + "-"
		}
		if l.lang != "" {
			return q.groupLabels[l.lang] + "/"
		}
		return q.group + "/"
	}
	// columns returns a question's headers and a function of a record giving its cells.
	columns := func(q question, repeatSheet bool) ([]string, func(map[string]string) []any) {
		p, base := prefix(q, repeatSheet), label(q)
		switch {
		case q.typ == "geopoint" && l.odk:
			return []string{p + base + "-Latitude", p + base + "-Longitude", p + base + "-Altitude", p + base + "-Accuracy"},
				func(r map[string]string) []any {
					return []any{num(r["lat"]), num(r["lon"]), num(r["alt"]), num(r["acc"])}
				}
		case q.typ == "geopoint":
			return []string{p + base, p + "_" + base + "_latitude", p + "_" + base + "_longitude", p + "_" + base + "_altitude", p + "_" + base + "_precision"},
				func(r map[string]string) []any {
					whole := ""
					if r["lat"] != "" {
						whole = strings.Join([]string{r["lat"], r["lon"], r["alt"], r["acc"]}, " ")
						if l.decimalComma {
							whole = strings.ReplaceAll(whole, ".", ",")
						}
					}
					return []any{whole, num(r["lat"]), num(r["lon"]), num(r["alt"]), num(r["acc"])}
				}
		case q.typ == "select_multiple":
			var hs []string
			names := strings.Fields(choiceLabel(q.list, "*", ""))
			if l.multi != "details" {
				hs = append(hs, p+base)
			}
			if l.multi != "summary" {
				for _, c := range names {
					opt := c
					if l.lang != "" {
						opt = choiceLabel(q.list, c, l.lang)
					}
					hs = append(hs, p+base+"/"+opt)
				}
			}
			return hs, func(r map[string]string) []any {
				var cells []any
				v := r[q.name]
				if l.multi != "details" {
					cells = append(cells, value(q, v))
				}
				if l.multi != "summary" {
					chosen := strings.Fields(v)
					for _, c := range names {
						switch {
						case v == "" && !l.odk:
							cells = append(cells, "") // unanswered: blank (formpack)
						case slices.Contains(chosen, c):
							cells = append(cells, num("1"))
						default:
							cells = append(cells, num("0")) // ODK writes 0 even when unanswered
						}
					}
				}
				return cells
			}
		}
		return []string{p + base}, func(r map[string]string) []any { return []any{value(q, r[q.name])} }
	}
	type col struct {
		cells func(map[string]string) []any
	}
	var mainCols, childCols []col
	if l.odk {
		main.header = append(main.header, "SubmissionDate")
	} else {
		main.header = append(main.header, "start", "end")
	}
	for _, q := range hh {
		hs, f := columns(q, false)
		main.header = append(main.header, hs...)
		mainCols = append(mainCols, col{f})
	}
	for _, q := range ch {
		hs, f := columns(q, true)
		children.header = append(children.header, hs...)
		childCols = append(childCols, col{f})
	}
	if l.odk {
		main.header = append(main.header, "meta-instanceID", "KEY", "SubmitterID", "SubmitterName", "AttachmentsPresent", "AttachmentsExpected",
			"Status", "ReviewState", "DeviceID", "Edits", "FormVersion")
		children.header = append(children.header, "PARENT_KEY", "KEY")
	} else {
		main.header = append(main.header, "_id", "_uuid", "_submission_time", "_validation_status", "_notes", "_status", "_submitted_by", "__version__", "_tags", "_index")
		children.header = append(children.header, "_index", "_parent_table_name", "_parent_index", "_submission__id", "_submission__uuid",
			"_submission__submission_time", "_submission__validation_status", "_submission__notes", "_submission__status",
			"_submission__submitted_by", "_submission___version__", "_submission__tags")
	}
	childIndex := 0
	for i, h := range exportSurvey {
		uuid := h.fields["uuid"]
		submitted := fmt.Sprintf("2026-03-0%dT0%d:30:00", 2+i/3, 1+i%3)
		var row []any
		if l.odk {
			row = append(row, submitted+".000Z")
		} else {
			row = append(row, "2026-03-02T08:00:00.000+07:00", "2026-03-02T08:30:00.000+07:00")
		}
		for _, c := range mainCols {
			row = append(row, c.cells(h.fields)...)
		}
		if l.odk {
			row = append(row, "uuid:"+uuid, "uuid:"+uuid, "5", "enumerator 1", "0", "0", "", "", "collect:abc", "0", "2026112601")
		} else {
			if l.decimalComma {
				submitted = fmt.Sprintf("0%d/03/2026 0%d:30:00", 2+i/3, 1+i%3) // Excel, id-ID: day first
			}
			row = append(row, num(strconv.Itoa(501+i)), uuid, submitted, "", "", "submitted_via_web", "", "vXyZ", "", num(strconv.Itoa(i+1)))
		}
		main.rows = append(main.rows, row)
		for j, c := range h.children {
			childIndex++
			var cr []any
			for _, cc := range childCols {
				cr = append(cr, cc.cells(c)...)
			}
			if l.odk {
				cr = append(cr, "uuid:"+uuid, fmt.Sprintf("uuid:%s/children[%d]", uuid, j+1))
			} else {
				cr = append(cr, num(strconv.Itoa(childIndex)), "kesempatan_household", num(strconv.Itoa(i+1)), num(strconv.Itoa(501+i)), uuid,
					submitted, "", "", "submitted_via_web", "", "vXyZ", "")
			}
			children.rows = append(children.rows, cr)
		}
	}
	return main, children
}

func cellText(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// writeCSV writes a sheet as the tool's CSV: KoBoToolbox quotes every value
// and separates with sep; ODK Central quotes only when needed.
func writeCSV(t *testing.T, file string, s sheet, sep string, quoteAll bool) {
	t.Helper()
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b.WriteString(sep)
			}
			if quoteAll || strings.ContainsAny(c, sep+"\"\n") {
				c = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
			}
			b.WriteString(c)
		}
		b.WriteString("\r\n")
	}
	line(s.header)
	for _, r := range s.rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = cellText(v)
		}
		line(cells)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeXLSX writes KoBoToolbox's XLS export: the main sheet (named after the
// form, at most 31 characters) and the repeat's sheet.
func writeXLSX(t *testing.T, file string, main, children sheet) {
	t.Helper()
	x := excelize.NewFile()
	defer x.Close()
	names := []string{"Kesempatan household and child", "children"}
	x.SetSheetName("Sheet1", names[0])
	if _, err := x.NewSheet(names[1]); err != nil {
		t.Fatal(err)
	}
	for k, s := range []sheet{main, children} {
		for i, h := range s.header {
			cell, _ := excelize.CoordinatesToCellName(i+1, 1)
			x.SetCellValue(names[k], cell, h)
		}
		for r, row := range s.rows {
			for i, v := range row {
				if v == "" {
					continue // formpack writes nothing for a blank
				}
				cell, _ := excelize.CoordinatesToCellName(i+1, r+2)
				x.SetCellValue(names[k], cell, v)
			}
		}
	}
	if err := x.SaveAs(file); err != nil {
		t.Fatal(err)
	}
}

// legacySheet flattens the children into the households' rows as "CSV
// (legacy)" does: children[N]/question columns, True/False select columns,
// "n/a" for what was not answered.
func legacySheet(t *testing.T) sheet {
	l := layout{groups: true, multi: "both"}
	main, children := l.write(t)
	na := func(cells []any, header []string) []any {
		out := make([]any, len(cells))
		for i, c := range cells {
			s := cellText(c)
			switch {
			case s == "":
				s = "n/a"
			case strings.Count(header[i], "/") >= 1 && !strings.HasPrefix(header[i], "_") && (s == "0" || s == "1") && isSplit(header[i]):
				s = map[string]string{"0": "False", "1": "True"}[s]
			}
			out[i] = s
		}
		return out
	}
	maxKids := 2
	var out sheet
	cut := slices.Index(main.header, "_id")
	out.header = append(out.header, main.header[:cut]...)
	for i := range out.header {
		if strings.HasPrefix(out.header[i], "household/_gps_") {
			out.header[i] = "_household/gps_" + strings.TrimPrefix(out.header[i], "household/_gps_")
		}
	}
	childQ := children.header[:slices.Index(children.header, "_index")]
	for n := 1; n <= maxKids; n++ {
		for _, h := range childQ {
			out.header = append(out.header, fmt.Sprintf("children[%d]/%s", n, strings.TrimPrefix(h, "children/")))
		}
	}
	out.header = append(out.header, "meta/instanceID", "_id", "_uuid", "_submission_time", "_tags", "_notes")
	ci := 0
	for i, h := range exportSurvey {
		r := na(main.rows[i][:cut], main.header[:cut])
		for n := 1; n <= maxKids; n++ {
			if n <= len(h.children) {
				r = append(r, na(children.rows[ci][:len(childQ)], childQ)...)
				ci++
			} else {
				for range childQ {
					r = append(r, "n/a")
				}
			}
		}
		r = append(r, "uuid:"+h.fields["uuid"], strconv.Itoa(501+i), h.fields["uuid"], main.rows[i][cut+2], "[]", "[]")
		out.rows = append(out.rows, r)
	}
	return out
}

func isSplit(h string) bool {
	parts := strings.Split(h, "/")
	return len(parts) >= 2 && slices.Contains([]string{"livelihood", "poverty_programme", "tasks", "gts_symptoms"}, parts[len(parts)-2])
}

func writeZip(t *testing.T, file string, members map[string]string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range members {
			if !yield(k) {
				return
			}
		}
	}) {
		w, err := z.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.ReadFile(members[name])
		if err != nil {
			t.Fatal(err)
		}
		w.Write(src)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// surveyFingerprint is the loaded survey, by content (not ids, source or
// load times), arrays sorted: what every layout must load identically.
func surveyFingerprint(t *testing.T, db *postgres.DB) string {
	t.Helper()
	var s string
	err := db.Pool.QueryRow(context.Background(), `SELECT
		(SELECT string_agg(concat_ws('|', survey_uuid, submitted_at, village_code, reported_village_code, ST_AsText(geom), gps_precision_m,
			(SELECT array_agg(x ORDER BY x) FROM unnest(livelihoods) x), (SELECT array_agg(x ORDER BY x) FROM unnest(poverty_programmes) x),
			caregiver_education, single_parent, members, working_adults), E'\n' ORDER BY survey_uuid) FROM household)
		|| E'\n--\n' ||
		(SELECT string_agg(concat_ws('|', h.survey_uuid, c.ordinal, c.age, c.sex, c.school_status, c.harvest_absence_days, c.works,
			c.work_hours_week, c.work_hours_day, c.works_in_school_hours, (SELECT array_agg(x ORDER BY x) FROM unnest(c.tasks) x),
			(SELECT array_agg(x ORDER BY x) FROM unnest(c.gts_symptoms) x), c.disability, c.special_needs, c.orphan), E'\n' ORDER BY h.survey_uuid, c.ordinal)
		 FROM child c JOIN household h ON h.id = c.household_id)`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func importExport(t *testing.T, db *postgres.DB, file string, opt ingest.SurveyOptions, partial bool) (ingest.Summary, error) {
	t.Helper()
	sv, err := ingest.OpenSurvey(file, opt)
	if err != nil {
		return ingest.Summary{}, err
	}
	defer sv.Close()
	sum, err := db.ImportSurvey(context.Background(), postgres.SurveyImport{HouseholdFile: sv.HouseholdFile, ChildFile: sv.ChildFile, Identity: dbtest.DefaultIdentity(t),
		Households: sv.Households, Children: sv.Children, MaxVillageDistance: 1000}, postgres.ImportOptions{Partial: partial})
	sum.Warnings = sv.Notes()
	return sum, err
}

// TestEveryExportLoads writes the survey in every layout the two tools
// produce and loads each into a fresh database: every household and child
// must load, with the same values as from plain XML names, and the
// household that did not consent must be skipped and counted.
func TestEveryExportLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := func(n string) string { return filepath.Join(dir, n) }
	type files struct {
		file string
		opt  ingest.SurveyOptions
		note string // a warning the summary must carry
	}
	csvPair := func(name string, l layout, sep string, quoteAll bool) files {
		m, c := l.write(t)
		writeCSV(t, path(name+".csv"), m, sep, quoteAll)
		writeCSV(t, path(name+"-children.csv"), c, sep, quoteAll)
		return files{file: path(name + ".csv"), opt: ingest.SurveyOptions{Children: path(name + "-children.csv")}}
	}
	xlsxOf := func(name string, l layout) files {
		m, c := l.write(t)
		writeXLSX(t, path(name+".xlsx"), m, c)
		return files{file: path(name + ".xlsx")}
	}
	zipOf := func(name string, l layout) files {
		m, c := l.write(t)
		writeCSV(t, path(name+"-main.csv"), m, ",", false)
		writeCSV(t, path(name+"-rep.csv"), c, ",", false)
		writeZip(t, path(name+".zip"), map[string]string{"kesempatan_household.csv": path(name + "-main.csv"),
			"kesempatan_household-children.csv": path(name + "-rep.csv")})
		return files{file: path(name + ".zip")}
	}
	cases := []struct {
		name string
		make func() files
	}{
		{"kobo csv ; groups names", func() files { return csvPair("k1", layout{groups: true, multi: "both"}, ";", true) }},
		{"kobo csv , no groups names summary", func() files { return csvPair("k2", layout{multi: "summary"}, ",", true) }},
		{"kobo csv ; 0/1 columns only", func() files { return csvPair("k3", layout{groups: true, multi: "details"}, ";", true) }},
		{"kobo csv ; labels bahasa indonesia", func() files {
			return csvPair("k4", layout{groups: true, lang: "Bahasa Indonesia (id)", multi: "both"}, ";", true)
		}},
		{"kobo csv ; labels english 0/1 only", func() files {
			return csvPair("k5", layout{groups: true, lang: "English (en)", multi: "details"}, ";", true)
		}},
		{"kobo xlsx", func() files { return xlsxOf("x1", layout{groups: true, multi: "both", numbers: true}) }},
		{"kobo xlsx labels 0/1 only", func() files {
			return xlsxOf("x2", layout{groups: true, lang: "Bahasa Indonesia (id)", multi: "details", numbers: true})
		}},
		{"kobo csv (legacy)", func() files {
			s := legacySheet(t)
			writeCSV(t, path("legacy.csv"), s, ",", false)
			return files{file: path("legacy.csv")}
		}},
		{"xlsx saved as csv in an indonesian locale", func() files {
			f := csvPair("idlocale", layout{groups: true, multi: "both", decimalComma: true}, ";", false)
			f.note = "decimal comma"
			return f
		}},
		{"odk csv", func() files { return csvPair("o1", layout{odk: true, groups: true, multi: "summary"}, ",", false) }},
		{"odk csv split select multiple", func() files { return csvPair("o2", layout{odk: true, groups: true, multi: "both"}, ",", false) }},
		{"odk csv no group names", func() files { return csvPair("o3", layout{odk: true, multi: "summary"}, ",", false) }},
		{"odk zip", func() files { return zipOf("z1", layout{odk: true, groups: true, multi: "both"}) }},
	}
	// The reference: plain XML names, loaded first.
	ref := csvPair("ref", layout{multi: "summary"}, ",", false)
	refDB := dbtest.New(t)
	demoVillages(t, refDB)
	if _, err := importExport(t, refDB, ref.file, ref.opt, false); err != nil {
		t.Fatalf("reference export: %v", err)
	}
	want := surveyFingerprint(t, refDB)
	if n := strings.Count(want, "\n"); n != wantHouseholds+wantChildren {
		t.Fatalf("reference loaded %d lines:\n%s", n, want)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.make()
			db := dbtest.New(t)
			demoVillages(t, db)
			sum, err := importExport(t, db, f.file, f.opt, false)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if sum.Inserted != wantHouseholds || sum.Children.Inserted != wantChildren || sum.Skipped != 1 || len(sum.Rejected) != 0 {
				t.Errorf("loaded %d households, %d children, skipped %d, rejected %d; want %d, %d, 1 (no consent), 0",
					sum.Inserted, sum.Children.Inserted, sum.Skipped, len(sum.Rejected), wantHouseholds, wantChildren)
			}
			if got := surveyFingerprint(t, db); got != want {
				t.Errorf("loaded values differ from the XML-name export:\n got: %s\nwant: %s", got, want)
			}
			if f.note != "" && !strings.Contains(strings.Join(sum.Warnings, "\n"), f.note) {
				t.Errorf("warnings %q do not mention %q", sum.Warnings, f.note)
			}
		})
	}
}

// TestExportsRefusedLoudly: what must be refused, with a message a field
// coordinator can act on, and with the database unchanged.
func TestExportsRefusedLoudly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := func(n string) string { return filepath.Join(dir, n) }
	db := dbtest.New(t)
	demoVillages(t, db)
	before := tableState(t, db)

	kobo := layout{groups: true, multi: "both"}
	m, c := kobo.write(t)
	writeCSV(t, path("main.csv"), m, ";", true)
	writeCSV(t, path("children.csv"), c, ";", true)
	headerOnly := sheet{header: m.header}
	writeCSV(t, path("header-only.csv"), headerOnly, ";", true)
	commaDecimals := layout{groups: true, multi: "both", decimalComma: true}
	dm, _ := commaDecimals.write(t)
	// A hand-saved comma-separated file with unquoted decimal commas: "-7,8094"
	// becomes two fields.
	var raw strings.Builder
	raw.WriteString(strings.Join(dm.header, ",") + "\n")
	for _, r := range dm.rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = cellText(v)
		}
		raw.WriteString(strings.Join(cells, ",") + "\n")
	}
	os.WriteFile(path("comma-decimals.csv"), []byte(raw.String()), 0o644)
	// Both select columns present and disagreeing.
	bad := sheet{header: m.header}
	for _, r := range m.rows {
		bad.rows = append(bad.rows, slices.Clone(r))
	}
	liv := slices.Index(m.header, "household/livelihood")
	bad.rows[0][liv] = "trader"
	writeCSV(t, path("disagree.csv"), bad, ";", true)
	// Every row refused: the wrong village codes.
	allBad := sheet{header: m.header}
	vil := slices.Index(m.header, "household/village")
	for _, r := range m.rows {
		r = slices.Clone(r)
		if r[vil] != "" {
			r[vil] = "35.8.9.2008"
		}
		allBad.rows = append(allBad.rows, r)
	}
	writeCSV(t, path("all-bad.csv"), allBad, ";", true)
	// A header that is not this form's.
	os.WriteFile(path("other-form.csv"), []byte("name;age;_uuid;_index\nAdi;9;u1;1\n"), 0o644)

	cases := []struct {
		name    string
		file    string
		opt     ingest.SurveyOptions
		partial bool
		want    []string // parts of the message
	}{
		{"kobo csv without the repeat sheet", path("main.csv"), ingest.SurveyOptions{}, false,
			[]string{"holds no children", "Export as XLS", "--children", "--no-children"}},
		{"header only", path("header-only.csv"), ingest.SurveyOptions{NoChildren: true}, false, []string{"no rows", "nothing was changed"}},
		{"decimal commas in a comma-separated file", path("comma-decimals.csv"), ingest.SurveyOptions{Children: path("children.csv")}, false,
			[]string{"decimal comma"}},
		{"select columns disagree", path("disagree.csv"), ingest.SurveyOptions{Children: path("children.csv")}, false,
			[]string{"household/livelihood", "disagrees with its 0/1 columns", "household/livelihood/"}},
		{"no row loads, with a reject file", path("all-bad.csv"), ingest.SurveyOptions{Children: path("children.csv")}, true,
			[]string{"none of the 6 row(s) loaded", "nothing was changed"}},
		{"another form", path("other-form.csv"), ingest.SurveyOptions{NoChildren: true}, false,
			[]string{"not a household sheet of the Kesempatan survey", "expected the questions consent, village", "found: name, age"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := importExport(t, db, tc.file, tc.opt, tc.partial)
			if err == nil {
				t.Fatal("imported; want a refusal")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not say %q", err, w)
				}
			}
			if after := tableState(t, db); after != before {
				t.Errorf("the refusal changed the database: %s -> %s", before, after)
			}
		})
	}

	// --no-children: the main sheet alone is meant; the households load.
	sum, err := importExport(t, db, path("main.csv"), ingest.SurveyOptions{NoChildren: true}, false)
	if err != nil || sum.Inserted != wantHouseholds || sum.Children.Inserted != 0 {
		t.Errorf("--no-children: %v, %d households; want %d households and no children", err, sum.Inserted, wantHouseholds)
	}
	var nothing *ingest.NothingLoaded
	if _, err := importExport(t, db, path("header-only.csv"), ingest.SurveyOptions{NoChildren: true}, false); !errors.As(err, &nothing) {
		t.Errorf("header-only file: %v, want NothingLoaded", err)
	}
}
