package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
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

// table is a CSV file with a header whose names are canonicalised, so that
// KoBoToolbox's "household/age" and ODK's "household-age" are both "age".
type table struct {
	file   string
	format string
	cr     *csv.Reader
	cols   map[string]int // canonical name -> index
	names  []string       // names as written in the file
	rec    []string
	line   int
	offset int64
}

func openTable(r io.Reader, file string) (*table, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	first, err := br.Peek(4096)
	if len(first) == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, risk.Errorf(risk.EINVALID, "%s: empty file", file)
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	first = bytes.TrimPrefix(first, []byte("\uFEFF"))
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	delim := ','
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		delim = ';' // KoBoToolbox's default CSV export
	} else if bytes.Count(first, []byte("\t")) > bytes.Count(first, []byte(",")) {
		delim = '\t'
	}
	cr := csv.NewReader(br)
	cr.Comma = delim
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, risk.Errorf(risk.EINVALID, "%s: line 1: cannot read the header: %v", file, err)
	}
	t := &table{file: file, cr: cr, cols: map[string]int{}, names: append([]string(nil), header...)}
	if len(t.names) > 0 {
		t.names[0] = strings.TrimPrefix(t.names[0], "\uFEFF")
	}
	for _, h := range t.names {
		switch h = strings.TrimSpace(h); {
		case h == "KEY" || h == "PARENT_KEY":
			t.format = ODK
		case h == "_uuid" || h == "_index" || h == "_parent_index":
			t.format = KoBo
		}
	}
	if t.format == "" {
		return nil, risk.Errorf(risk.EINVALID, "%s: line 1: the header has neither KoBoToolbox columns (_uuid, _index, _parent_index) nor ODK Central columns (KEY, PARENT_KEY)", file)
	}
	for i, h := range t.names {
		c := canonical(strings.TrimSpace(h), t.format)
		if _, dup := t.cols[c]; !dup {
			t.cols[c] = i
		}
	}
	return t, nil
}

// canonical maps an exported column name onto the form's field name.
func canonical(h, format string) string {
	if format == ODK {
		switch h {
		case "KEY", "PARENT_KEY", "SubmissionDate":
			return h
		}
		parts := strings.Split(h, "-")
		last := parts[len(parts)-1]
		if len(parts) >= 2 {
			switch last {
			case "Latitude", "Longitude", "Altitude":
				return "_" + parts[len(parts)-2] + "_" + strings.ToLower(last)
			case "Accuracy":
				return "_" + parts[len(parts)-2] + "_precision"
			}
		}
		return last
	}
	parts := strings.Split(h, "/")
	last := parts[len(parts)-1]
	if strings.HasPrefix(h, "_") && !strings.HasPrefix(last, "_") {
		last = "_" + last // _household/gps_latitude -> _gps_latitude
	}
	return last
}

// next reads a record; io.EOF at the end.
func (t *table) next() error {
	t.offset = t.cr.InputOffset()
	rec, err := t.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return risk.Errorf(risk.EINVALID, "%s: line %d: malformed CSV: %v", t.file, pe.Line, pe.Err)
		}
		return fmt.Errorf("%s: %w", t.file, err)
	}
	t.rec = rec
	t.line, _ = t.cr.FieldPos(0)
	return nil
}

func (t *table) has(name string) bool { _, ok := t.cols[name]; return ok }

func (t *table) get(name string) string {
	i, ok := t.cols[name]
	if !ok || i >= len(t.rec) {
		return ""
	}
	return strings.TrimSpace(t.rec[i])
}

// column returns the column's name as written in the file, for messages.
func (t *table) column(name string) string {
	if i, ok := t.cols[name]; ok {
		return t.names[i]
	}
	return name
}

// field parsing with one error per row: the first problem wins.
type rowParser struct {
	t    *table
	code string
	err  *Problem
}

func (p *rowParser) fail(name, format string, args ...any) {
	if p.err == nil {
		p.err = &Problem{File: p.t.file, Row: p.t.line, Column: p.t.column(name), Code: p.code, Reason: fmt.Sprintf(format, args...), Raw: rawRecord(p.t.rec, p.t.cr.Comma)}
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
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != math.Trunc(f) {
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
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.fail(name, "%q is not a number", v)
		return 0
	}
	if f < min || f > max {
		p.fail(name, "%s is out of range %g..%g", v, min, max)
		return 0
	}
	return f
}

func (p *rowParser) yesNo(name string) bool {
	switch v := strings.ToLower(p.t.get(name)); v {
	case "yes", "1", "true", "ya":
		return true
	case "no", "0", "false", "tidak", "":
		return false
	default:
		p.fail(name, "%q is not yes or no", v)
		return false
	}
}

func (p *rowParser) choice(name string, allowed []string, required bool) string {
	v := p.t.get(name)
	if v == "" {
		if required {
			p.required(name)
		}
		return ""
	}
	if !risk.IsChoice(allowed, v) {
		p.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	return v
}

// choices reads a select_multiple answer: codes separated by spaces. "none"
// stands alone and means the empty list.
func (p *rowParser) choices(name string, allowed []string) []string {
	v := p.t.get(name)
	if v == "" {
		return nil
	}
	fields := strings.Fields(v)
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if f == "none" {
			if len(fields) > 1 {
				p.fail(name, "%q: none cannot be chosen with other answers", v)
			}
			continue
		}
		if !risk.IsChoice(allowed, f) {
			p.fail(name, "%q is not one of %s", f, strings.Join(allowed, ", "))
			return nil
		}
		out = append(out, f)
	}
	return out
}

// HouseholdReader streams households from a KoBoToolbox or ODK Central export.
type HouseholdReader struct {
	t       *table
	parents map[string]parent // export key -> household, for the child sheet
	uuids   map[string]int    // survey uuid -> line, to refuse duplicate submissions
}

type parent struct {
	uuid     string
	line     int
	rejected bool
	children int
}

// NewHouseholdReader reads the header of a household export and detects its format.
func NewHouseholdReader(r io.Reader, file string) (*HouseholdReader, error) {
	t, err := openTable(r, file)
	if err != nil {
		return nil, err
	}
	return &HouseholdReader{t: t, parents: map[string]parent{}, uuids: map[string]int{}}, nil
}

// Format is KoBo or ODK.
func (hr *HouseholdReader) Format() string { return hr.t.format }

// Next returns the next household, or a problem for a row it cannot use, or
// io.EOF at the end. Any other error ends the file.
func (hr *HouseholdReader) Next() (HouseholdRow, *Problem, error) {
	t := hr.t
	if err := t.next(); err != nil {
		return HouseholdRow{}, nil, err
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
	if prev, dup := hr.parents[row.Key]; dup && p.err == nil {
		p.fail(map[string]string{KoBo: "_index", ODK: "KEY"}[t.format], "duplicate: row %d has the same key", prev.line)
	}
	if c := p.choice("consent", []string{"yes", "no"}, true); c == "no" {
		p.fail("consent", "the household did not consent; its answers must not be stored")
	}
	if s := t.get(map[string]string{KoBo: "_submission_time", ODK: "SubmissionDate"}[t.format]); s != "" {
		ts, err := parseTime(s)
		if err != nil {
			p.fail(map[string]string{KoBo: "_submission_time", ODK: "SubmissionDate"}[t.format], "%q is not a date and time", s)
		}
		h.SubmittedAt = ts
	}
	h.ReportedVillage = t.get("village")
	if h.ReportedVillage != "" && !codePattern["desa"].MatchString(h.ReportedVillage) {
		p.fail("village", "%q is not a village code (want e.g. 35.13.13.2003)", h.ReportedVillage)
	}
	h.Lat, h.Lon, h.GPSPrecision = p.point()
	h.Livelihoods = p.choices("livelihood", risk.Livelihoods)
	h.PovertyProgrammes = p.choices("poverty_programme", risk.PovertyProgrammes)
	h.CaregiverEducation = p.choice("caregiver_education", risk.EducationLevels, false)
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
	}
	if p.err != nil {
		return row, p.err, nil
	}
	return row, nil, nil
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
	var err1, err2 error
	lat, err1 = strconv.ParseFloat(f[0], 64)
	lon, err2 = strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		p.fail("gps", "%q is not a geopoint in range (latitude -90..90, longitude -180..180)", v)
		return
	}
	if len(f) >= 4 {
		precision, _ = strconv.ParseFloat(f[3], 64)
	}
	return
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
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
}

// NewChildReader reads the header of a children export. parents is the reader
// of the household file, read to its end first.
func NewChildReader(r io.Reader, file string, parents *HouseholdReader) (*ChildReader, error) {
	t, err := openTable(r, file)
	if err != nil {
		return nil, err
	}
	if t.format != parents.Format() {
		return nil, risk.Errorf(risk.EINVALID, "%s: a %s export, but the households file %s is a %s export", file, t.format, parents.t.file, parents.Format())
	}
	return &ChildReader{t: t, parents: parents, hhFile: parents.t.file}, nil
}

// Next returns the next child, a problem, or io.EOF at the end.
func (cr *ChildReader) Next() (ChildRow, *Problem, error) {
	t := cr.t
	if err := t.next(); err != nil {
		return ChildRow{}, nil, err
	}
	p := &rowParser{t: t}
	row := ChildRow{Line: t.line, Offset: t.offset}
	c := &row.Child
	parentCol := map[string]string{KoBo: "_parent_index", ODK: "PARENT_KEY"}[t.format]
	key := p.required(parentCol)
	par, ok := cr.parents.parents[key]
	switch {
	case p.err != nil:
	case !ok:
		p.fail(parentCol, "%q matches no household in %s", key, cr.hhFile)
	case par.rejected:
		p.code = par.uuid
		p.fail(parentCol, "its household (%s row %d) was rejected", cr.hhFile, par.line)
	}
	c.HouseholdUUID = par.uuid
	p.code = par.uuid
	par.children++
	c.Ordinal = par.children
	if ok {
		cr.parents.parents[key] = par
	}
	c.Age = p.integer("age", 0, risk.MaxChildAge, true)
	c.Sex = p.choice("sex", risk.Sexes, true)
	c.SchoolStatus = p.choice("school_status", risk.SchoolStatuses, true)
	c.HarvestAbsenceDays = p.integer("harvest_absence_days", 0, 366, false)
	c.Works = p.yesNo("works")
	c.WorkHoursWeek = p.decimal("work_hours_week", 0, 168)
	c.WorkHoursDay = p.decimal("work_hours_day", 0, 24)
	c.WorksInSchoolHours = p.yesNo("work_school_hours")
	c.Tasks = p.choices("tasks", risk.ChildTasks)
	c.GTSSymptoms = p.choices("gts_symptoms", risk.GTSSymptoms)
	c.Disability = p.yesNo("disability")
	c.SpecialNeeds = p.yesNo("special_needs")
	c.Orphan = p.choice("orphan", risk.OrphanStatuses, false)
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
		return row, p.err, nil
	}
	return row, nil, nil
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
