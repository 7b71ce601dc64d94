package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kesempatan/riskmap/internal/risk"
)

// Survey export formats.
const (
	KoBo = "kobo" // KoBoToolbox: group/field names, _uuid, _index, _parent_index
	ODK  = "odk"  // ODK Central: group-field names, KEY, PARENT_KEY
)

// HouseholdRow is one household read from a survey export.
type HouseholdRow struct {
	Line   int   // line in the file; the header is line 1
	Offset int64 // byte offset of the row, to find it again for a reject file
	Key    string
	risk.Household
}

// ChildRow is one child read from a survey export's repeat sheet.
type ChildRow struct {
	Line   int
	Offset int64
	risk.Child
}

// field parsing with one error per row: the first problem wins.
type rowParser struct {
	t    *table
	code string
	err  *Problem
}

func (p *rowParser) fail(name, format string, args ...any) {
	if p.err == nil {
		p.err = &Problem{File: p.t.file, Row: p.t.line, Column: p.t.column(name), Code: p.code, Reason: fmt.Sprintf(format, args...), Raw: p.t.raw()}
	}
}

func (p *rowParser) required(name string) string {
	v := p.t.get(name)
	if v == "" {
		if !p.t.has(name) {
			p.fail(name, "column is missing from the header")
		} else {
			p.fail(name, "missing value")
		}
	}
	return v
}

func (p *rowParser) integer(name string, min, max int, required bool) int {
	v := p.t.get(name)
	if v == "" {
		if required {
			p.required(name)
		}
		return 0
	}
	f, why := p.t.number(v)
	if why != "" || f != math.Trunc(f) {
		p.fail(name, "%q is not a whole number", v)
		return 0
	}
	if f < float64(min) || f > float64(max) {
		p.fail(name, "%s is out of range %d..%d", v, min, max)
		return 0
	}
	return int(f)
}

func (p *rowParser) decimal(name string, min, max float64) float64 {
	v := p.t.get(name)
	if v == "" {
		return 0
	}
	f, why := p.t.number(v)
	if why != "" || math.IsNaN(f) || math.IsInf(f, 0) {
		if why == "" {
			why = "is not a number"
		}
		p.fail(name, "%q %s", v, why)
		return 0
	}
	if f < min || f > max {
		p.fail(name, "%s is out of range %g..%g", v, min, max)
		return 0
	}
	return f
}

// yesNo reads a yes_no answer, by its name or its label in any language.
func (p *rowParser) yesNo(name string) bool {
	v := p.t.get(name)
	switch strings.ToLower(v) {
	case "", "0", "false":
		return false
	case "1", "true":
		return true
	}
	c, ok := p.t.form.value("yes_no", v)
	if !ok {
		p.fail(name, "%q is not yes or no", v)
	}
	return c == "yes"
}

// choice reads a select_one answer: a choice's name, or its label in any of
// the form's languages (a KoBoToolbox export with labels).
func (p *rowParser) choice(name, list string, required bool) string {
	v := p.t.get(name)
	if v == "" {
		if required {
			p.required(name)
		}
		return ""
	}
	c, ok := p.t.form.value(list, v)
	if !ok {
		p.fail(name, "%q is not one of %s", v, strings.Join(p.t.form.choiceNames(list), ", "))
	}
	return c
}

// choices reads a select_multiple answer from its own column (names or
// labels separated by spaces), from its 0/1 columns (one per answer), or
// from both, which must then agree. "none" stands alone and means the empty
// list.
func (p *rowParser) choices(name, list string) []string {
	t := p.t
	var split []string
	splitAnswered, splitCol := false, ""
	for _, c := range t.form.lists[list] {
		col := name + "/" + c.name
		if !t.has(col) {
			continue
		}
		switch v := strings.ToLower(t.get(col)); v {
		case "":
		case "1", "true", "1.0":
			splitAnswered = true
			split = append(split, c.name)
			splitCol = col
		case "0", "false", "0.0":
			splitAnswered = true
		default:
			p.fail(col, "%q is not 0 or 1", t.get(col))
			return nil
		}
	}
	v := t.get(name)
	var summary []string
	if v != "" {
		var ok bool
		if summary, ok = t.form.multiValue(list, v); !ok {
			bad := v
			for _, w := range strings.Fields(v) {
				if _, known := t.form.value(list, w); !known {
					bad = w
					break
				}
			}
			p.fail(name, "%q is not one of %s (nor their labels)", bad, strings.Join(t.form.choiceNames(list), ", "))
			return nil
		}
	}
	out := summary
	if t.has(name) && splitAnswered && v != "" {
		if !sameSet(summary, split) {
			col := splitCol
			if col == "" {
				col = name + "/..."
			}
			p.fail(name, "%q disagrees with its 0/1 columns (%s), which say %q: the export is inconsistent, export it again",
				v, t.column(col), strings.Join(split, " "))
			return nil
		}
	} else if !t.has(name) || v == "" {
		out = split
	}
	names := make([]string, 0, len(out))
	for _, c := range out {
		if c == "none" {
			if len(out) > 1 {
				p.fail(name, "%q: none cannot be chosen with other answers", strings.Join(out, " "))
			}
			continue
		}
		names = append(names, c)
	}
	if len(names) == 0 {
		return nil
	}
	return names
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x] |= 1
	}
	for _, x := range b {
		m[x] |= 2
	}
	for _, v := range m {
		if v != 3 {
			return false
		}
	}
	return true
}

// HouseholdReader streams households from a KoBoToolbox or ODK Central export.
type HouseholdReader struct {
	t       *table
	parents map[string]parent // export key -> household, for the child sheet
	uuids   map[string]int    // survey uuid -> line, to refuse duplicate submissions
	cards   map[string]int    // programme id -> line: one household per card in a file
	skipped int               // consent = no
	legacy  *memSource        // children from "CSV (legacy)" repeat columns
	legacyH []string          // their header: _parent_index and the questions
}

type parent struct {
	uuid     string
	line     int
	rejected bool
	skipped  bool
	children int
}

// NewHouseholdReader reads the header of a household export (CSV) and
// detects its format.
func NewHouseholdReader(r io.Reader, file string) (*HouseholdReader, error) {
	src, header, err := newCSVSource(r, file)
	if err != nil {
		return nil, err
	}
	return newHouseholdReader(src, header, file, src.comma)
}

func newHouseholdReader(src source, header []string, file string, comma rune) (*HouseholdReader, error) {
	t, err := newTable(src, header, file, "household", comma)
	if err != nil {
		return nil, err
	}
	hr := &HouseholdReader{t: t, parents: map[string]parent{}, uuids: map[string]int{}, cards: map[string]int{}}
	if t.legacy != nil {
		hr.legacy = &memSource{}
		seen := map[string]bool{}
		var order []string
		for _, cols := range t.legacy {
			for c := range cols {
				if !seen[c] {
					seen[c] = true
					order = append(order, c)
				}
			}
		}
		sort.Strings(order)
		hr.legacyH = append([]string{"_parent_index"}, order...)
		if t.format != KoBo {
			return nil, risk.Errorf(risk.EINVALID, "%s: line 1: children[N]/... repeat columns belong to KoBoToolbox's \"CSV (legacy)\" export, but this file has ODK Central's KEY column", file)
		}
		var missing []string
		for _, q := range requiredColumns["children"] {
			if !seen[q] && !(t.form.byName[q] != nil && t.form.byName[q].typ == "select_multiple" && hasPrefixKey(seen, q+"/")) {
				missing = append(missing, q)
			}
		}
		if len(missing) > 0 {
			return nil, risk.Errorf(risk.EINVALID, "%s: line 1: the children[N]/... repeat columns lack the form's question(s) %s: export every question of the current form version", file, strings.Join(missing, ", "))
		}
	}
	return hr, nil
}

func hasPrefixKey(m map[string]bool, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// Format is KoBo or ODK.
func (hr *HouseholdReader) Format() string { return hr.t.format }

// Skipped is the number of households read so far that did not consent:
// their rows are not data and are not stored.
func (hr *HouseholdReader) Skipped() int { return hr.skipped }

// Notes are warnings about the whole file (a missing optional column,
// decimal commas read as decimals).
func (hr *HouseholdReader) Notes() []string { return hr.t.notes() }

// HasLegacyChildren reports whether the export holds the children as
// "CSV (legacy)" repeat columns (children[1]/age, ...).
func (hr *HouseholdReader) HasLegacyChildren() bool { return hr.legacy != nil }

// LegacyChildren returns a reader of the children found in the repeat
// columns of a "CSV (legacy)" export; read it after the households.
func (hr *HouseholdReader) LegacyChildren() *ChildReader {
	header := hr.legacyH
	t := &table{file: hr.t.file, sheet: "children", format: KoBo, src: hr.legacy, form: hr.t.form, cols: map[string]int{}, names: header, naBlank: true}
	for i, h := range header {
		t.cols[h] = i
	}
	return &ChildReader{t: t, parents: hr, hhFile: hr.t.file}
}

// collectLegacy turns the current row's repeat columns into child rows.
func (hr *HouseholdReader) collectLegacy(key string) {
	t := hr.t
	header := hr.legacyH
	for _, n := range sortedKeys(t.legacy) {
		cols := t.legacy[n]
		rec := make([]string, len(header))
		rec[0] = key
		any := false
		for i, h := range header[1:] {
			if j, ok := cols[h]; ok && j < len(t.rec) {
				rec[i+1] = t.rec[j]
				if v := strings.TrimSpace(t.rec[j]); v != "" && v != "n/a" {
					any = true
				}
			}
		}
		if any {
			hr.legacy.add(rec, t.line)
		}
	}
}

// Next returns the next household, or a problem for a row it cannot use, or
// io.EOF at the end. Households that did not consent are skipped and
// counted (Skipped). Any other error ends the file.
func (hr *HouseholdReader) Next() (HouseholdRow, *Problem, error) {
	for {
		row, p, skip, err := hr.next()
		if err != nil || !skip {
			return row, p, err
		}
		hr.skipped++
	}
}

func (hr *HouseholdReader) next() (HouseholdRow, *Problem, bool, error) {
	t := hr.t
	if err := t.next(); err != nil {
		return HouseholdRow{}, nil, false, err
	}
	p := &rowParser{t: t}
	row := HouseholdRow{Line: t.line, Offset: t.offset}
	h := &row.Household
	h.Source = t.format
	if t.format == KoBo {
		row.Key = t.get("_index")
		h.SurveyUUID = p.required("_uuid")
	} else {
		row.Key = p.required("KEY")
		h.SurveyUUID = strings.TrimPrefix(row.Key, "uuid:")
		if h.SurveyUUID == "" && row.Key != "" {
			p.fail("KEY", "%q has no submission id after uuid:", row.Key)
		}
	}
	p.code = h.SurveyUUID
	if row.Key == "" {
		row.Key = "line:" + strconv.Itoa(t.line)
	}
	if why := t.widthProblem(); why != "" && p.err == nil {
		p.err = &Problem{File: t.file, Row: t.line, Code: p.code, Reason: why, Raw: t.raw()}
	}
	if prev, dup := hr.parents[row.Key]; dup && p.err == nil {
		p.fail(map[string]string{KoBo: "_index", ODK: "KEY"}[t.format], "duplicate: row %d has the same key", prev.line)
	}
	if c := p.choice("consent", "yes_no", true); c == "no" && p.err == nil {
		// Not data: the household said no. Its answers are not read, and its
		// children (if any) are skipped with it.
		if _, dup := hr.parents[row.Key]; !dup {
			hr.parents[row.Key] = parent{uuid: h.SurveyUUID, line: t.line, skipped: true}
		}
		return row, nil, true, nil
	}
	if s := t.get(map[string]string{KoBo: "_submission_time", ODK: "SubmissionDate"}[t.format]); s != "" {
		ts, err := parseTime(s)
		if err != nil {
			p.fail(map[string]string{KoBo: "_submission_time", ODK: "SubmissionDate"}[t.format], "%q is not a date and time", s)
		}
		h.SubmittedAt = ts
	}
	h.ReportedVillage = p.village()
	h.ProgrammeID = strings.ToUpper(strings.TrimSpace(t.get("programme_id")))
	if err := risk.CheckProgrammeID(h.ProgrammeID); err != nil {
		p.fail("programme_id", "%v", err)
	} else if first, dup := hr.cards[h.ProgrammeID]; dup && h.ProgrammeID != "" {
		p.fail("programme_id", "%s: row %d has the same programme household id (one submission per household and round)", h.ProgrammeID, first)
	} else if h.ProgrammeID != "" {
		hr.cards[h.ProgrammeID] = t.line
	}
	h.Lat, h.Lon, h.GPSPrecision = p.point()
	h.Livelihoods = p.choices("livelihood", "livelihood")
	h.PovertyProgrammes = p.choices("poverty_programme", "poverty_programme")
	h.CaregiverEducation = p.choice("caregiver_education", "education", false)
	h.SingleParent = p.yesNo("single_parent")
	h.Members = p.integer("members", 1, risk.MaxHouseholdMembers, true)
	h.WorkingAdults = p.integer("working_adults", 0, risk.MaxHouseholdMembers, false)
	if p.err == nil && h.WorkingAdults > h.Members {
		p.fail("working_adults", "%d working adults in a household of %d", h.WorkingAdults, h.Members)
	}
	if first, dup := hr.uuids[h.SurveyUUID]; dup && h.SurveyUUID != "" {
		p.fail(map[string]string{KoBo: "_uuid", ODK: "KEY"}[t.format], "duplicate submission: row %d has the same uuid", first)
	} else {
		hr.uuids[h.SurveyUUID] = t.line
	}
	if _, dup := hr.parents[row.Key]; !dup { // the first row keeps the key
		hr.parents[row.Key] = parent{uuid: h.SurveyUUID, line: t.line, rejected: p.err != nil}
		if hr.legacy != nil {
			hr.collectLegacy(row.Key)
		}
	}
	if p.err != nil {
		return row, p.err, false, nil
	}
	return row, nil, false, nil
}

// village reads the village the enumerator chose: its Kemendagri code (the
// choice's name), or in an export with labels its name, resolved through the
// kecamatan chosen before it when names repeat.
func (p *rowParser) village() string {
	v := p.t.get("village")
	if v == "" || codePattern["desa"].MatchString(v) {
		return v
	}
	form := p.t.form
	codes := form.desaByLabel[strings.ToLower(v)]
	if kec := p.t.get("kecamatan"); len(codes) > 1 && kec != "" {
		kecCode, ok := form.value("kecamatan", kec)
		if ok {
			var in []string
			for _, c := range codes {
				if strings.HasPrefix(c, kecCode+".") {
					in = append(in, c)
				}
			}
			codes = in
		}
	}
	switch len(codes) {
	case 1:
		return codes[0]
	case 0:
		p.fail("village", "%q is neither a village code (e.g. 35.13.13.2003) nor the name of a village on the form's list", v)
	default:
		p.fail("village", "%q names %d villages (%s): export with XML values, or keep the kecamatan column", v, len(codes), strings.Join(codes, ", "))
	}
	return ""
}

// point reads the household's GPS position from the split columns
// (_gps_latitude, ...) or from the geopoint column ("lat lon alt acc").
func (p *rowParser) point() (lat, lon, precision float64) {
	t := p.t
	if t.has("_gps_latitude") || t.has("_gps_longitude") {
		if t.get("_gps_latitude") == "" || t.get("_gps_longitude") == "" {
			p.fail("_gps_latitude", "missing GPS position")
			return
		}
		lat = p.decimal("_gps_latitude", -90, 90)
		lon = p.decimal("_gps_longitude", -180, 180)
		precision = p.decimal("_gps_precision", 0, 1e6)
		return
	}
	v := t.get("gps")
	if v == "" {
		p.fail("gps", "missing GPS position")
		return
	}
	f := strings.Fields(v)
	if len(f) < 2 {
		p.fail("gps", "%q is not a geopoint (want \"lat lon alt accuracy\")", v)
		return
	}
	var why1, why2 string
	lat, why1 = t.number(f[0])
	lon, why2 = t.number(f[1])
	if why1 != "" || why2 != "" || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		p.fail("gps", "%q is not a geopoint in range (latitude -90..90, longitude -180..180)", v)
		return
	}
	if len(f) >= 4 {
		precision, _ = t.number(f[3])
	}
	return
}

// parseTime reads a submission time: ISO 8601 as the tools write it, or the
// day-first forms a spreadsheet in an Indonesian locale saves.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02",
		"2/1/2006 15:04:05", "2/1/2006 15:04", "2/1/2006", "2/1/2006 15.04.05", "2/1/2006 15.04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("bad time")
}

// RejectHousehold marks a household rejected after it was read (for example
// because its point lies outside every village), so its children are too.
func (hr *HouseholdReader) RejectHousehold(key string) {
	if p, ok := hr.parents[key]; ok {
		p.rejected = true
		hr.parents[key] = p
	}
}

// ChildReader streams the children of a survey export's repeat sheet.
type ChildReader struct {
	t       *table
	parents *HouseholdReader
	hhFile  string
	skipped int
}

// NewChildReader reads the header of a children export (CSV). parents is
// the reader of the household file, read to its end first.
func NewChildReader(r io.Reader, file string, parents *HouseholdReader) (*ChildReader, error) {
	src, header, err := newCSVSource(r, file)
	if err != nil {
		return nil, err
	}
	return newChildReader(src, header, file, src.comma, parents)
}

func newChildReader(src source, header []string, file string, comma rune, parents *HouseholdReader) (*ChildReader, error) {
	t, err := newTable(src, header, file, "children", comma)
	if err != nil {
		return nil, err
	}
	if t.format != parents.Format() {
		return nil, risk.Errorf(risk.EINVALID, "%s: a %s export, but the households file %s is a %s export", file, t.format, parents.t.file, parents.Format())
	}
	return &ChildReader{t: t, parents: parents, hhFile: parents.t.file}, nil
}

// Skipped is the number of children skipped with their household (consent = no).
func (cr *ChildReader) Skipped() int { return cr.skipped }

// Notes are warnings about the whole children sheet.
func (cr *ChildReader) Notes() []string { return cr.t.notes() }

// Next returns the next child, a problem, or io.EOF at the end.
func (cr *ChildReader) Next() (ChildRow, *Problem, error) {
	for {
		row, p, skip, err := cr.next()
		if err != nil || !skip {
			return row, p, err
		}
		cr.skipped++
	}
}

func (cr *ChildReader) next() (ChildRow, *Problem, bool, error) {
	t := cr.t
	if err := t.next(); err != nil {
		return ChildRow{}, nil, false, err
	}
	p := &rowParser{t: t}
	row := ChildRow{Line: t.line, Offset: t.offset}
	c := &row.Child
	parentCol := map[string]string{KoBo: "_parent_index", ODK: "PARENT_KEY"}[t.format]
	key := p.required(parentCol)
	par, ok := cr.parents.parents[key]
	if ok && par.skipped {
		return row, nil, true, nil
	}
	switch {
	case p.err != nil:
	case !ok:
		p.fail(parentCol, "%q matches no household in %s", key, cr.hhFile)
	case par.rejected:
		p.code = par.uuid
		p.fail(parentCol, "its household (%s row %d) was rejected", cr.hhFile, par.line)
	}
	if why := t.widthProblem(); why != "" && p.err == nil {
		p.err = &Problem{File: t.file, Row: t.line, Code: par.uuid, Reason: why, Raw: t.raw()}
	}
	c.HouseholdUUID = par.uuid
	p.code = par.uuid
	par.children++
	c.Ordinal = par.children
	if ok {
		cr.parents.parents[key] = par
	}
	c.Age = p.integer("age", 0, risk.MaxChildAge, true)
	c.Sex = p.choice("sex", "sex", true)
	c.SchoolStatus = p.choice("school_status", "school_status", true)
	c.HarvestAbsenceDays = p.integer("harvest_absence_days", 0, 366, false)
	c.Works = p.yesNo("works")
	c.WorkHoursWeek = p.decimal("work_hours_week", 0, 168)
	c.WorkHoursDay = p.decimal("work_hours_day", 0, 24)
	c.WorksInSchoolHours = p.yesNo("work_school_hours")
	c.Tasks = p.choices("tasks", "task")
	c.GTSSymptoms = p.choices("gts_symptoms", "gts")
	c.Disability = p.yesNo("disability")
	c.SpecialNeeds = p.yesNo("special_needs")
	c.Orphan = p.choice("orphan", "orphan", false)
	if c.Orphan == "" {
		c.Orphan = "no"
	}
	// Impossible combinations of age and school: refused, not scored.
	if p.err == nil && c.SchoolStatus == "dropped_out" && c.Age < 6 {
		p.fail("school_status", "a child of %d cannot have dropped out of school (school starts at 6-7): check the age or the answer", c.Age)
	}
	if p.err == nil && c.SchoolStatus == "not_school_age" && c.Age >= 7 {
		p.fail("school_status", "a child of %d is of school age (7-17): not_school_age is for younger children", c.Age)
	}
	if p.err == nil && c.Age < 4 && c.SchoolStatus != "not_school_age" {
		p.fail("school_status", "a child of %d is not of school age: the answer must be not_school_age, not %s (check the age or the answer)", c.Age, c.SchoolStatus)
	}
	// A blank is not zero hours: a working child without hours would be
	// classified as within the light-work limits by default.
	if p.err == nil && c.Works {
		for _, col := range []string{"work_hours_week", "work_hours_day"} {
			if p.t.get(col) == "" {
				p.fail(col, "the child works (works = yes) but %s is blank: the hours are required (a blank is not 0 hours)", col)
				break
			}
		}
	}
	if p.err == nil && c.Works && c.WorkHoursWeek == 0 && c.WorkHoursDay == 0 {
		p.fail("work_hours_week", "the child works but no hours are given")
	}
	if p.err == nil && c.WorkHoursDay > c.WorkHoursWeek && c.WorkHoursWeek > 0 {
		p.fail("work_hours_day", "%g hours a day but %g a week", c.WorkHoursDay, c.WorkHoursWeek)
	}
	if p.err != nil {
		return row, p.err, false, nil
	}
	return row, nil, false, nil
}

// rawRecord re-encodes a record as one CSV line.
func rawRecord(rec []string, comma rune) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Comma = comma
	_ = w.Write(rec)
	w.Flush()
	return strings.TrimRight(b.String(), "\r\n")
}

// RawAt returns the CSV record that starts at offset off of r, re-encoded as
// one line: how a reject file shows a row rejected after it was streamed.
func RawAt(r io.ReaderAt, off int64) string {
	cr := csv.NewReader(io.NewSectionReader(r, off, 1<<20))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	br := bufio.NewReader(io.NewSectionReader(r, off, 1<<20))
	line, _ := br.ReadString('\n')
	comma := ','
	if strings.Count(line, ";") > strings.Count(line, ",") {
		comma = ';'
	}
	cr.Comma = comma
	rec, err := cr.Read()
	if err != nil {
		return strings.TrimRight(line, "\r\n")
	}
	return rawRecord(rec, comma)
}
