package ingest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kesempatan/riskmap/internal/risk"
)

// ReadCalendar reads a labour calendar CSV with the columns variety, month
// (1-12), labour_index (0-1) and an optional note.
func ReadCalendar(r io.Reader, file string) ([]risk.CalendarEntry, Problems, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, nil, risk.Errorf(risk.EINVALID, "%s: line 1: cannot read the header: %v", file, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))] = i
	}
	for _, need := range []string{"variety", "month", "labour_index"} {
		if _, ok := col[need]; !ok {
			return nil, nil, risk.Errorf(risk.EINVALID, "%s: line 1: column %s is missing (want variety,month,labour_index[,note])", file, need)
		}
	}
	var out []risk.CalendarEntry
	var problems Problems
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, risk.Errorf(risk.EINVALID, "%s: malformed CSV: %v", file, err)
		}
		line, _ := cr.FieldPos(0)
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		reject := func(column, format string, args ...any) {
			problems = append(problems, Problem{File: file, Row: line, Column: column, Code: get("variety"), Reason: fmt.Sprintf(format, args...), Raw: rawRecord(rec, ',')})
		}
		e := risk.CalendarEntry{Variety: get("variety"), Note: get("note")}
		if e.Variety == "" {
			reject("variety", "missing variety")
			continue
		}
		m, err := strconv.Atoi(get("month"))
		if err != nil || m < 1 || m > 12 {
			reject("month", "%q is not a month 1..12", get("month"))
			continue
		}
		e.Month = m
		x, err := strconv.ParseFloat(get("labour_index"), 64)
		if err != nil || x < 0 || x > 1 {
			reject("labour_index", "%q is not a number 0..1", get("labour_index"))
			continue
		}
		e.LabourIdx = x
		k := e.Variety + "\x00" + strconv.Itoa(m)
		if first, dup := seen[k]; dup {
			reject("month", "duplicate: row %d has the same variety and month", first)
			continue
		}
		seen[k] = line
		out = append(out, e)
	}
	return out, problems, nil
}
