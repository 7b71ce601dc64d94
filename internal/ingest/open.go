package ingest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/kesempatan/riskmap/internal/risk"
)

// SurveyOptions says how to open a survey export.
type SurveyOptions struct {
	// Children is a separate file of the children repeat (a CSV). Empty:
	// the children come from the export itself (an XLSX's repeat sheet, an
	// ODK Central zip's repeat CSV, a "CSV (legacy)" export's repeat columns).
	Children string
	// NoChildren says the export is meant to hold no children; without it an
	// export without them is refused (KoBoToolbox's CSV export holds only the
	// main sheet, and loading it would lose every child in silence).
	NoChildren bool
}

// Survey is an opened survey export: a reader of its households and, read
// after them, of its children.
type Survey struct {
	Households    *HouseholdReader
	Children      *ChildReader // nil with NoChildren
	HouseholdFile string       // names for messages: a file, or zip:member, or xlsx[sheet]
	ChildFile     string
	closers       []io.Closer
	raw           map[string]io.ReaderAt // file name -> its bytes, to find a row again by offset
}

// Close releases the files.
func (s *Survey) Close() error {
	for _, c := range s.closers {
		c.Close()
	}
	return nil
}

// Notes are the export's warnings (missing optional columns, decimal commas).
func (s *Survey) Notes() []string {
	out := s.Households.Notes()
	if s.Children != nil && s.Children.t != s.Households.t {
		out = append(out, s.Children.Notes()...)
	}
	return out
}

// FillRaw fills in the raw row of problems found after streaming (a point
// outside every village), from the row's offset in its file.
func (s *Survey) FillRaw(ps Problems) {
	for i := range ps {
		if ps[i].Raw != "" {
			continue
		}
		if r, ok := s.raw[ps[i].File]; ok && ps[i].Offset >= 0 {
			ps[i].Raw = RawAt(r, ps[i].Offset)
		}
	}
}

// OpenSurvey opens a survey export as KoBoToolbox or ODK Central write it: a
// CSV (KoBoToolbox CSV or "CSV (legacy)", ODK Central's CSV), an XLSX
// workbook (KoBoToolbox's XLS export: the main sheet and a sheet per repeat)
// or ODK Central's zip (the main CSV and a CSV per repeat).
func OpenSurvey(file string, opt SurveyOptions) (*Survey, error) {
	s := &Survey{raw: map[string]io.ReaderAt{}}
	var err error
	switch ext := strings.ToLower(filepath.Ext(file)); ext {
	case ".xlsx", ".xlsm":
		err = s.openXLSX(file, opt)
	case ".xls":
		err = risk.Errorf(risk.EINVALID, "%s: an old binary .xls workbook: save it as .xlsx (KoBoToolbox's XLS export already is .xlsx)", file)
	case ".zip":
		err = s.openZip(file, opt)
	default:
		err = s.openCSV(file, opt)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Survey) openCSV(file string, opt SurveyOptions) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, f)
	s.raw[file] = f
	s.HouseholdFile = file
	if s.Households, err = NewHouseholdReader(f, file); err != nil {
		return err
	}
	return s.openChildren(opt, nil)
}

// openChildren finds the children: a separate file, the legacy repeat
// columns, or fromExport (a workbook's or zip's repeat sheet).
func (s *Survey) openChildren(opt SurveyOptions, fromExport func() error) error {
	switch {
	case opt.Children != "":
		f, err := os.Open(opt.Children)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, f)
		s.raw[opt.Children] = f
		s.ChildFile = opt.Children
		s.Children, err = NewChildReader(f, opt.Children, s.Households)
		return err
	case s.Households.HasLegacyChildren():
		s.ChildFile = s.HouseholdFile
		s.Children = s.Households.LegacyChildren()
		return nil
	case fromExport != nil:
		if err := fromExport(); err != nil {
			return err
		}
		if s.Children != nil {
			return nil
		}
	}
	if opt.NoChildren {
		return nil
	}
	return risk.Errorf(risk.EINVALID, "%s: the export holds no children (no repeat sheet, no children[1]/... columns), so loading it would lose every child: "+
		"KoBoToolbox's CSV export writes only the main sheet. Export as XLS (one workbook with a sheet per repeat) or \"CSV (legacy)\", "+
		"or give the children's CSV with --children; pass --no-children only if the survey truly recorded no children", s.HouseholdFile)
}

// openXLSX reads KoBoToolbox's XLS export: the first sheet holds the
// households, the sheet whose header has _parent_index the children.
func (s *Survey) openXLSX(file string, opt SurveyOptions) error {
	x, err := excelize.OpenFile(file)
	if err != nil {
		return risk.Errorf(risk.EINVALID, "%s: not a readable XLSX workbook: %v", file, err)
	}
	s.closers = append(s.closers, x)
	sheets := x.GetSheetList()
	if len(sheets) == 0 {
		return risk.Errorf(risk.EINVALID, "%s: the workbook has no sheets", file)
	}
	var main, repeat string
	var repeatHeader []string
	for _, name := range sheets {
		header, err := xlsxHeader(x, name)
		if err != nil {
			return err
		}
		isChild := false
		for _, h := range header {
			if h == "_parent_index" || h == "PARENT_KEY" {
				isChild = true
			}
		}
		switch {
		case isChild && (repeat == "" || name == "children"):
			repeat, repeatHeader = name, header
		case !isChild && main == "":
			main = name
		}
	}
	if main == "" {
		return risk.Errorf(risk.EINVALID, "%s: no sheet of households (every sheet has _parent_index)", file)
	}
	hsrc, header, err := newXLSXSource(x, file, main)
	if err != nil {
		return err
	}
	s.HouseholdFile = fmt.Sprintf("%s[%s]", file, main)
	if len(header) == 0 {
		return risk.Errorf(risk.EINVALID, "%s: the sheet is empty: there is nothing to import", s.HouseholdFile)
	}
	if s.Households, err = newHouseholdReader(hsrc, header, s.HouseholdFile, 0); err != nil {
		return err
	}
	return s.openChildren(opt, func() error {
		if repeat == "" {
			return nil
		}
		csrc, _, err := newXLSXSource(x, file, repeat)
		if err != nil {
			return err
		}
		s.ChildFile = fmt.Sprintf("%s[%s]", file, repeat)
		s.Children, err = newChildReader(csrc, repeatHeader, s.ChildFile, 0, s.Households)
		return err
	})
}

func xlsxHeader(x *excelize.File, sheet string) ([]string, error) {
	rows, err := x.Rows(sheet)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Error()
	}
	return rows.Columns()
}

// xlsxSource streams a worksheet's rows (excelize's row iterator).
type xlsxSource struct {
	rows *excelize.Rows
	n    int
}

func newXLSXSource(x *excelize.File, file, sheet string) (*xlsxSource, []string, error) {
	rows, err := x.Rows(sheet)
	if err != nil {
		return nil, nil, risk.Errorf(risk.EINVALID, "%s[%s]: %v", file, sheet, err)
	}
	src := &xlsxSource{rows: rows}
	rec, _, _, err := src.read()
	if err == io.EOF {
		return src, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	header := make([]string, len(rec))
	for i, h := range rec {
		header[i] = strings.TrimSpace(h)
	}
	return src, header, nil
}

func (s *xlsxSource) read() ([]string, int, int64, error) {
	if !s.rows.Next() {
		if err := s.rows.Error(); err != nil {
			return nil, 0, 0, err
		}
		return nil, 0, 0, io.EOF
	}
	s.n++
	rec, err := s.rows.Columns()
	if err != nil {
		return nil, 0, 0, err
	}
	return rec, s.n, -1, nil
}

// openZip reads ODK Central's "Download all" zip: FORM.csv holds the
// submissions, FORM-children.csv the repeat; media/ is ignored.
func (s *Survey) openZip(file string, opt SurveyOptions) error {
	z, err := zip.OpenReader(file)
	if err != nil {
		return risk.Errorf(risk.EINVALID, "%s: not a readable zip: %v", file, err)
	}
	s.closers = append(s.closers, z)
	var csvs []*zip.File
	for _, f := range z.File {
		if strings.EqualFold(path.Ext(f.Name), ".csv") && !strings.HasPrefix(f.Name, "media/") && !strings.Contains(f.Name, "/media/") {
			csvs = append(csvs, f)
		}
	}
	read := func(f *zip.File) ([]byte, error) {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	var mainFile, childFile *zip.File
	var mainBytes, childBytes []byte
	for _, f := range csvs {
		b, err := read(f)
		if err != nil {
			return risk.Errorf(risk.EINVALID, "%s: %s: %v", file, f.Name, err)
		}
		first, _, _ := bytes.Cut(b, []byte("\n"))
		isChild := bytes.Contains(first, []byte("PARENT_KEY"))
		switch {
		case isChild && (childFile == nil || strings.HasSuffix(f.Name, "-children.csv")):
			childFile, childBytes = f, b
		case !isChild && mainFile == nil:
			mainFile, mainBytes = f, b
		}
	}
	if mainFile == nil {
		return risk.Errorf(risk.EINVALID, "%s: the zip holds no CSV of submissions (want FORM.csv, as ODK Central's \"Download all\" writes it)", file)
	}
	s.HouseholdFile = file + ":" + mainFile.Name
	hr := bytes.NewReader(mainBytes)
	s.raw[s.HouseholdFile] = hr
	if s.Households, err = NewHouseholdReader(hr, s.HouseholdFile); err != nil {
		return err
	}
	return s.openChildren(opt, func() error {
		if childFile == nil {
			return nil
		}
		s.ChildFile = file + ":" + childFile.Name
		cr := bytes.NewReader(childBytes)
		s.raw[s.ChildFile] = cr
		s.Children, err = NewChildReader(cr, s.ChildFile, s.Households)
		return err
	})
}

// NewSurveyFromRows opens a survey held in memory (a server pull): the
// households' header and rows and the children's.
func NewSurveyFromRows(name string, hhHeader []string, hhRows [][]string, childHeader []string, childRows [][]string) (*Survey, error) {
	s := &Survey{raw: map[string]io.ReaderAt{}, HouseholdFile: name, ChildFile: name + "#children"}
	hsrc := &memSource{}
	for i, r := range hhRows {
		hsrc.add(r, i+1)
	}
	var err error
	if s.Households, err = newHouseholdReader(hsrc, hhHeader, name, 0); err != nil {
		return nil, err
	}
	csrc := &memSource{}
	for i, r := range childRows {
		csrc.add(r, i+1)
	}
	if s.Children, err = newChildReader(csrc, childHeader, s.ChildFile, 0, s.Households); err != nil {
		return nil, err
	}
	return s, nil
}

// Submission is one submission pulled from a server's JSON API, its answers
// flattened to paths ("household/village", or "KEY") with text values; its
// repeat entries likewise, relative or full paths ("age", "children/age").
type Submission struct {
	Fields   map[string]string
	Children []map[string]string
}

// SurveyFromSubmissions opens pulled submissions as a survey, so they are
// read, validated and loaded exactly as an export file is. format is KoBo
// (keyed by _uuid; children are linked by a generated _index) or ODK (keyed
// by KEY). A question absent from every submission is unanswered, not a
// missing column: every question of the form is a column.
func SurveyFromSubmissions(name, format string, subs []Submission) (*Survey, error) {
	form, err := theForm()
	if err != nil {
		return nil, err
	}
	columns := func(sheet string, meta []string) ([]string, map[string]int) {
		header := append([]string(nil), meta...)
		for _, f := range form.fields {
			if f.repeat == (sheet == "children") {
				header = append(header, f.name)
			}
		}
		idx := map[string]int{}
		for i, h := range header {
			idx[h] = i
		}
		return header, idx
	}
	hhMeta := []string{"_index", "_uuid", "_submission_time"}
	chMeta := []string{"_parent_index"}
	if format == ODK {
		hhMeta = []string{"KEY", "SubmissionDate"}
		chMeta = []string{"PARENT_KEY"}
	}
	hhHeader, hhIdx := columns("household", hhMeta)
	chHeader, chIdx := columns("children", chMeta)
	put := func(rec []string, idx map[string]int, sheet, key, v string) {
		c, ok := idx[key]
		if !ok {
			canonical := form.headers[sheet][key]
			if canonical == "" {
				canonical = fallbackName(key, form, sheet == "children")
			}
			if c, ok = idx[canonical]; !ok {
				return // metadata and attachments the form does not ask for
			}
		}
		rec[c] = v
	}
	var hhRows, chRows [][]string
	for i, s := range subs {
		rec := make([]string, len(hhHeader))
		for k, v := range s.Fields {
			put(rec, hhIdx, "household", k, v)
		}
		parent := strconv.Itoa(i + 1)
		if format == KoBo {
			rec[hhIdx["_index"]] = parent
		} else {
			parent = rec[hhIdx["KEY"]]
		}
		hhRows = append(hhRows, rec)
		for _, c := range s.Children {
			cr := make([]string, len(chHeader))
			for k, v := range c {
				put(cr, chIdx, "children", k, v)
			}
			cr[0] = parent
			chRows = append(chRows, cr)
		}
	}
	if len(hhRows) == 0 {
		return nil, &NothingLoaded{File: name}
	}
	return NewSurveyFromRows(name, hhHeader, hhRows, chHeader, chRows)
}
