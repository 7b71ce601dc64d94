package ingest

import (
	"archive/zip"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/kesempatan/riskmap/internal/risk"
)

// VisitRow is one case visit read from an export of the visit form
// (geodata/forms/visit).
type VisitRow struct {
	Line        int
	Offset      int64
	ProgrammeID string // as written on the form, to check the case number against; may be empty
	risk.Visit
}

// VisitReader streams visits from a KoBoToolbox or ODK Central export of
// the visit form: CSV, XLSX (its first sheet) or an ODK Central zip (its
// main CSV).
type VisitReader struct {
	t       *table
	File    string
	closers []io.Closer
	uuids   map[string]int
}

// OpenVisits opens an export of the visit form.
func OpenVisits(file string) (*VisitReader, error) {
	vr := &VisitReader{File: file, uuids: map[string]int{}}
	var (
		src    source
		header []string
		comma  rune
	)
	switch ext := strings.ToLower(filepath.Ext(file)); ext {
	case ".xlsx", ".xlsm":
		x, err := excelize.OpenFile(file)
		if err != nil {
			return nil, risk.Errorf(risk.EINVALID, "%s: not a readable XLSX workbook: %v", file, err)
		}
		vr.closers = append(vr.closers, x)
		sheets := x.GetSheetList()
		if len(sheets) == 0 {
			vr.Close()
			return nil, risk.Errorf(risk.EINVALID, "%s: the workbook has no sheets", file)
		}
		xs, h, err := newXLSXSource(x, file, sheets[0])
		if err != nil {
			vr.Close()
			return nil, err
		}
		src, header, vr.File = xs, h, fmt.Sprintf("%s[%s]", file, sheets[0])
	case ".zip":
		z, err := zip.OpenReader(file)
		if err != nil {
			return nil, risk.Errorf(risk.EINVALID, "%s: not a readable zip: %v", file, err)
		}
		vr.closers = append(vr.closers, z)
		var main *zip.File
		for _, f := range z.File {
			if strings.HasSuffix(strings.ToLower(f.Name), ".csv") && !strings.Contains(f.Name, "/") && (main == nil || len(f.Name) < len(main.Name)) {
				main = f // ODK Central: <form>.csv beside <form>-<repeat>.csv
			}
		}
		if main == nil {
			vr.Close()
			return nil, risk.Errorf(risk.EINVALID, "%s: no CSV in the zip: export the submissions of the visit form from ODK Central", file)
		}
		rc, err := main.Open()
		if err != nil {
			vr.Close()
			return nil, err
		}
		vr.closers = append(vr.closers, rc)
		cs, h, err := newCSVSource(rc, file+"/"+main.Name)
		if err != nil {
			vr.Close()
			return nil, err
		}
		src, header, comma, vr.File = cs, h, cs.comma, file+"/"+main.Name
	default:
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		vr.closers = append(vr.closers, f)
		cs, h, err := newCSVSource(f, file)
		if err != nil {
			vr.Close()
			return nil, err
		}
		src, header, comma = cs, h, cs.comma
	}
	t, err := newTable(src, header, vr.File, "visit", comma)
	if err != nil {
		vr.Close()
		return nil, err
	}
	vr.t = t
	return vr, nil
}

// Close releases the files.
func (vr *VisitReader) Close() error {
	for i := len(vr.closers) - 1; i >= 0; i-- {
		vr.closers[i].Close()
	}
	vr.closers = nil
	return nil
}

// Warnings are notes on the file as a whole (optional questions missing).
func (vr *VisitReader) Warnings() []string { return vr.t.notes() }

// Next returns the next visit, or a problem with it (the row is rejected,
// the others still read), or io.EOF. The rules of risk.Visit.Validate that
// need the case (its dates) are the database's to check.
func (vr *VisitReader) Next(c risk.Cases, today time.Time) (VisitRow, *Problem, error) {
	t := vr.t
	if err := t.next(); err != nil {
		return VisitRow{}, nil, err
	}
	p := &rowParser{t: t}
	row := VisitRow{Line: t.line, Offset: t.offset}
	v := &row.Visit
	key := map[string]string{KoBo: "_uuid", ODK: "KEY"}[t.format]
	v.SubmissionID = strings.TrimPrefix(p.required(key), "uuid:")
	p.code = v.SubmissionID
	if why := t.widthProblem(); why != "" && p.err == nil {
		p.err = &Problem{File: t.file, Row: t.line, Code: p.code, Reason: why, Raw: t.raw()}
	}
	if first, dup := vr.uuids[v.SubmissionID]; dup && v.SubmissionID != "" {
		p.fail(key, "duplicate submission: row %d has the same id", first)
	} else {
		vr.uuids[v.SubmissionID] = t.line
	}
	v.CaseID = int64(p.integer("case_id", 1, math.MaxInt32, true))
	// The visit form picks the case from the work list (an ODK entity or a
	// row of cases.csv) and computes case_id from it; the pick travels as
	// "case", the entity's id. They must name the same case.
	if pick := strings.TrimPrefix(strings.TrimSpace(t.get("case")), "uuid:"); pick != "" && v.CaseID > 0 && pick != risk.CaseEntityID(v.CaseID) {
		p.fail("case", "the case picked from the list (%s) is not case %d's: the phone's list and case_id disagree; push the work list again and re-enter the visit", pick, v.CaseID)
	}
	row.ProgrammeID = strings.ToUpper(strings.TrimSpace(t.get("programme_id")))
	if err := risk.CheckProgrammeID(row.ProgrammeID); err != nil {
		p.fail("programme_id", "%v", err)
	}
	if s := p.required("visited_on"); s != "" {
		d, err := parseVisitDate(s)
		if err != nil {
			p.fail("visited_on", "%q is not a date", s)
		}
		v.VisitedOn = d
	}
	v.Kind = p.choice("kind", "visit_kind", true)
	v.Outcome = p.choice("outcome", "visit_outcome", true)
	v.ChildWorking = p.maybeYesNo("child_working")
	v.InSchool = p.maybeYesNo("in_school")
	v.Actions = p.choices("actions", "remediation")
	v.ActionStatus = p.choice("action_status", "action_status", false)
	if p.err == nil {
		if err := v.Validate(c, today); err != nil {
			field, reason, _ := strings.Cut(err.Error(), ": ")
			p.fail(field, "%s", reason)
		}
	}
	if p.err != nil {
		return row, p.err, nil
	}
	return row, nil, nil
}

// maybeYesNo reads an optional yes_no answer: nil when blank.
func (p *rowParser) maybeYesNo(name string) *bool {
	if p.t.get(name) == "" {
		return nil
	}
	b := p.yesNo(name)
	return &b
}

// parseVisitDate reads a date question: ISO (the tools' exports), a date and
// time, a day-first date (an Indonesian spreadsheet), or an Excel serial
// day number (a date cell read raw).
func parseVisitDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > 20000 && n < 80000 {
		return time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n)), nil
	}
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
}

// Format is KoBo or ODK.
func (vr *VisitReader) Format() string { return vr.t.format }

// VisitsFromSubmissions opens visit form submissions pulled from a server
// (KoBo: keyed by _uuid; ODK: by KEY) as a visit export, so they are read,
// validated and loaded exactly as an export file is: case_id computed on the
// phone from the case picked off the work list, checked against the pick.
// Answers are matched to the form's questions by name (the last part of a
// group path).
func VisitsFromSubmissions(name, format string, subs []Submission) (*VisitReader, error) {
	form, err := theVisitForm()
	if err != nil {
		return nil, err
	}
	header := []string{"_uuid", "_submission_time", "_index"}
	if format == ODK {
		header = []string{"KEY", "SubmissionDate"}
	}
	for _, f := range form.fields {
		header = append(header, f.name)
	}
	idx := map[string]int{}
	for i, h := range header {
		idx[h] = i
	}
	src := &memSource{}
	for i, s := range subs {
		rec := make([]string, len(header))
		for k, v := range s.Fields {
			c, ok := idx[k]
			if !ok {
				if j := strings.LastIndexByte(k, '/'); j >= 0 {
					c, ok = idx[k[j+1:]]
				}
			}
			if ok {
				rec[c] = v
			}
		}
		if format == KoBo {
			rec[idx["_index"]] = strconv.Itoa(i + 1)
		}
		src.add(rec, i+1)
	}
	if len(subs) == 0 {
		return nil, &NothingLoaded{File: name}
	}
	t, err := newTable(src, header, name, "visit", 0)
	if err != nil {
		return nil, err
	}
	return &VisitReader{File: name, t: t, uuids: map[string]int{}}, nil
}
