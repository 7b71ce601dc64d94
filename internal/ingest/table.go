package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/kesempatan/riskmap/internal/risk"
)

// source yields the records of one sheet: a CSV file, a worksheet of an XLSX
// workbook, or rows built in memory (KoBoToolbox "CSV (legacy)" repeats,
// server pulls).
type source interface {
	// read returns the next record, its line (CSV) or row (XLSX) number and
	// its byte offset (-1 when the source has none), or io.EOF.
	read() (rec []string, line int, offset int64, err error)
}

// csvSource reads a CSV file, guessing its delimiter from the header.
type csvSource struct {
	file  string
	cr    *csv.Reader
	comma rune
}

func newCSVSource(r io.Reader, file string) (*csvSource, []string, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	first, err := br.Peek(4096)
	if len(first) == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, nil, risk.Errorf(risk.EINVALID, "%s: empty file: there is nothing to import", file)
		}
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	first = bytes.TrimPrefix(first, []byte("\uFEFF"))
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	comma := ','
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		comma = ';' // KoBoToolbox's default CSV export, and Excel's in comma-decimal locales
	} else if bytes.Count(first, []byte("\t")) > bytes.Count(first, []byte(",")) {
		comma = '\t'
	}
	cr := csv.NewReader(br)
	cr.Comma = comma
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, nil, risk.Errorf(risk.EINVALID, "%s: line 1: cannot read the header: %v", file, err)
	}
	header = append([]string(nil), header...)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\uFEFF")
	}
	return &csvSource{file: file, cr: cr, comma: comma}, header, nil
}

func (s *csvSource) read() ([]string, int, int64, error) {
	off := s.cr.InputOffset()
	rec, err := s.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, 0, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, 0, 0, risk.Errorf(risk.EINVALID, "%s: line %d: malformed CSV: %v", s.file, pe.Line, pe.Err)
		}
		return nil, 0, 0, fmt.Errorf("%s: %w", s.file, err)
	}
	line, _ := s.cr.FieldPos(0)
	return rec, line, off, nil
}

// memSource serves records held in memory. Rows may be appended until the
// first read (the legacy repeat columns are collected while the households
// are read, and the children read after them).
type memSource struct {
	rows  [][]string
	lines []int
	i     int
}

func (s *memSource) add(rec []string, line int) {
	s.rows = append(s.rows, rec)
	s.lines = append(s.lines, line)
}

func (s *memSource) read() ([]string, int, int64, error) {
	if s.i >= len(s.rows) {
		return nil, 0, 0, io.EOF
	}
	s.i++
	return s.rows[s.i-1], s.lines[s.i-1], -1, nil
}

// table is one sheet of a survey export whose columns are mapped onto the
// form's question names: "household/village", "Desa/kelurahan" and
// "household-village" are all "village"; "_household/gps_latitude" and
// "household-gps-Latitude" are "_gps_latitude"; "household/livelihood/trader"
// (a 0/1 column) is "livelihood/trader".
type table struct {
	file   string
	sheet  string // "household" or "children"
	format string
	src    source
	comma  rune // the CSV delimiter; 0 for XLSX and memory
	form   *surveyForm
	cols   map[string]int // canonical name -> index
	names  []string       // names as written in the file
	legacy map[int]map[string]int
	rec    []string
	line   int
	offset int64
	// naBlank: "n/a" is a blank ("CSV (legacy)" writes it for unanswered questions).
	naBlank bool
	// decimalCommas counts values read with a decimal comma.
	decimalCommas int
	warnings      []string
}

var metaColumns = map[string]bool{"_uuid": true, "_index": true, "_parent_index": true, "_parent_table_name": true,
	"_submission_time": true, "_id": true, "KEY": true, "PARENT_KEY": true, "SubmissionDate": true}

// legacyRepeat matches KoBoToolbox "CSV (legacy)" repeat columns:
// children[2]/age, household/children[2]/children/age.
var legacyRepeat = regexp.MustCompile(`^(?:.*/)?children\[(\d+)\]/(.*)$`)

func newTable(src source, header []string, file, sheet string, comma rune) (*table, error) {
	formOf := theForm
	if sheet == "visit" {
		formOf = theVisitForm
	}
	form, err := formOf()
	if err != nil {
		return nil, err
	}
	t := &table{file: file, sheet: sheet, src: src, comma: comma, form: form, cols: map[string]int{}, names: header}
	for _, h := range header {
		switch strings.TrimSpace(h) {
		case "KEY", "PARENT_KEY":
			t.format = ODK
		case "_uuid", "_index", "_parent_index":
			if t.format == "" {
				t.format = KoBo
			}
		}
	}
	spell := form.headers[sheet]
	matched := 0
	for i, raw := range header {
		h := strings.TrimSpace(raw)
		c := ""
		switch {
		case metaColumns[h]:
			c = h
		case spell[h] != "":
			c = spell[h]
		case sheet == "household" && legacyRepeat.MatchString(h):
			m := legacyRepeat.FindStringSubmatch(h)
			n, _ := strconv.Atoi(m[1])
			rest := strings.TrimPrefix(m[2], "children/")
			cc := form.headers["children"][rest]
			if cc == "" {
				cc = fallbackName(rest, form, true)
			}
			if cc != "" {
				if t.legacy == nil {
					t.legacy = map[int]map[string]int{}
				}
				if t.legacy[n] == nil {
					t.legacy[n] = map[string]int{}
				}
				t.legacy[n][cc] = i
				matched++
			}
			continue
		default:
			c = fallbackName(h, form, sheet == "children")
		}
		if c == "" {
			continue
		}
		if !metaColumns[c] {
			matched++
		}
		if _, dup := t.cols[c]; !dup {
			t.cols[c] = i
		}
	}
	t.naBlank = t.legacy != nil
	if matched == 0 || t.format == "" {
		return nil, t.unrecognised()
	}
	var missing []string
	for _, q := range requiredColumns[sheet] {
		if !t.hasQuestion(q) {
			missing = append(missing, q)
		}
	}
	if len(missing) > 0 {
		return nil, risk.Errorf(risk.EINVALID, "%s: line 1: the form's question(s) %s have no column in this %s sheet: "+
			"export every question of the current form version (in KoBoToolbox: Downloads, all versions; in ODK Central: "+
			"Download, all fields), and do not delete columns before importing", file, strings.Join(missing, ", "), sheet)
	}
	for _, q := range optionalColumns[sheet] {
		if !t.hasQuestion(q) {
			t.warnings = append(t.warnings, fmt.Sprintf("%s: the form's question %s has no column: every row is read without it", file, q))
		}
	}
	return t, nil
}

// unrecognised is the one message for a header that is not this form's.
func (t *table) unrecognised() error {
	want := append([]string(nil), requiredColumns[t.sheet]...)
	meta := "KoBoToolbox's _uuid and _index (or _parent_index), or ODK Central's KEY (and PARENT_KEY)"
	found := t.names
	more := ""
	if len(found) > 12 {
		found, more = found[:12], fmt.Sprintf(" ... (%d columns)", len(t.names))
	}
	what := "a " + t.sheet + " sheet of the Kesempatan survey"
	if t.sheet == "visit" {
		what = "an export of the Kesempatan case visit form"
	}
	return risk.Errorf(risk.EINVALID, "%s: line 1: this is not %s: expected the questions %s "+
		"(as XML names, with or without group names, or as labels in %s) and %s; found: %s%s",
		t.file, what, strings.Join(want, ", "), strings.Join(t.form.languages, " or "), meta, strings.Join(found, ", "), more)
}

// fallbackName recognises a column by its last path segment when its
// groups are not the form's (a form edited on the server): "grp/age",
// "grp-age", "grp/livelihood/trader".
func fallbackName(h string, form *surveyForm, repeat bool) string {
	parts := strings.FieldsFunc(h, func(r rune) bool { return r == '/' || r == '-' })
	if len(parts) == 0 {
		return ""
	}
	last := parts[len(parts)-1]
	if f, ok := form.byName[last]; ok && f.repeat == repeat {
		return last
	}
	if len(parts) >= 2 {
		if f, ok := form.byName[parts[len(parts)-2]]; ok && f.repeat == repeat && f.typ == "select_multiple" && form.isName(f.list, last) {
			return f.name + "/" + last
		}
	}
	return ""
}

// hasQuestion reports whether the sheet has a column for the question.
func (t *table) hasQuestion(q string) bool {
	if t.has(q) {
		return true
	}
	f := t.form.byName[q]
	switch {
	case f == nil:
		return false
	case f.typ == "geopoint":
		return t.has("_"+q+"_latitude") && t.has("_"+q+"_longitude")
	case f.typ == "select_multiple":
		for _, c := range t.form.lists[f.list] {
			if t.has(q + "/" + c.name) {
				return true
			}
		}
	}
	return false
}

// next reads a record; io.EOF at the end. A record whose number of fields
// is not the header's is an error of the file (CSV) or padded (XLSX, whose
// rows end at their last cell with a value).
func (t *table) next() error {
	for {
		rec, line, off, err := t.src.read()
		if err != nil {
			return err
		}
		t.rec, t.line, t.offset = rec, line, off
		if len(rec) < len(t.names) && t.comma == 0 {
			t.rec = append(rec, make([]string, len(t.names)-len(rec))...)
		}
		if t.comma == 0 && allBlank(t.rec) {
			continue // an empty row of a workbook
		}
		return nil
	}
}

func allBlank(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// widthProblem reports a CSV record with more or fewer fields than the
// header, which would shift every value into the wrong column.
func (t *table) widthProblem() string {
	if t.comma == 0 || len(t.rec) == len(t.names) {
		return ""
	}
	reason := fmt.Sprintf("the row has %d fields but the header has %d, so its values would fall into the wrong columns", len(t.rec), len(t.names))
	if t.comma == ',' && len(t.rec) > len(t.names) {
		reason += ": a decimal comma (12,5) in a comma-separated file splits one value into two; export with decimal points, or save the file with ; as the separator"
	}
	return reason
}

func (t *table) has(name string) bool { _, ok := t.cols[name]; return ok }

func (t *table) get(name string) string {
	i, ok := t.cols[name]
	if !ok || i >= len(t.rec) {
		return ""
	}
	v := strings.TrimSpace(t.rec[i])
	if t.naBlank && v == "n/a" {
		return ""
	}
	return v
}

// column returns the column's name as written in the file, for messages.
func (t *table) column(name string) string {
	if i, ok := t.cols[name]; ok {
		return t.names[i]
	}
	return name
}

// raw is the current record as one CSV line.
func (t *table) raw() string {
	comma := t.comma
	if comma == 0 {
		comma = ','
	}
	return rawRecord(t.rec, comma)
}

// number parses a decimal, accepting a decimal comma ("12,5"): Excel in an
// Indonesian locale saves CSV with ";" and decimal commas, and a workbook
// cell may hold text. (In a comma-separated file an unquoted decimal comma
// splits the value, which the row-width check reports.) It refuses
// thousands separators with a message that names them.
func (t *table) number(v string) (float64, string) {
	if strings.Contains(v, ",") {
		if strings.Count(v, ",") == 1 && !strings.Contains(v, ".") {
			f, err := strconv.ParseFloat(strings.Replace(v, ",", ".", 1), 64)
			if err == nil {
				t.decimalCommas++
				return f, ""
			}
		}
		return 0, "is not a number: it mixes a decimal comma with thousands separators (1.234,5); export numbers without thousands separators"
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, "is not a number"
	}
	return f, ""
}

// notes are the sheet's warnings: missing optional columns, decimal commas read.
func (t *table) notes() []string {
	out := append([]string(nil), t.warnings...)
	if t.decimalCommas > 0 {
		out = append(out, fmt.Sprintf("%s: %d value(s) written with a decimal comma (12,5) were read as decimals", t.file, t.decimalCommas))
	}
	return out
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}
