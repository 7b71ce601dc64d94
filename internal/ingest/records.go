package ingest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kesempatan/riskmap/internal/risk"
)

// Institution is a village's protective institution, as imported.
type Institution struct {
	Line        int
	VillageCode string
	Kind        string    // task_force, forum_anak or perdes
	Established time.Time // zero when unknown
	Note        string
	Raw         string
}

// FollowUp is a household under CLMRS follow-up, as imported.
type FollowUp struct {
	Line       int
	SurveyUUID string
	Started    time.Time
	Ended      time.Time // zero while the follow-up is open
	Note       string
	Raw        string
}

// rowError rejects one CSV row: the column at fault and why.
type rowError struct{ column, reason string }

func reject(column, format string, args ...any) *rowError {
	return &rowError{column, fmt.Sprintf(format, args...)}
}

// csvRecords reads a small CSV with a header; row gets a getter by column
// name and returns a rowError to reject the row.
func csvRecords(r io.Reader, file string, need []string, row func(line int, raw string, get func(string) string) *rowError) (Problems, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, risk.Errorf(risk.EINVALID, "%s: line 1: cannot read the header: %v", file, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))] = i
	}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return nil, risk.Errorf(risk.EINVALID, "%s: line 1: column %s is missing (want %s)", file, n, strings.Join(need, ","))
		}
	}
	var problems Problems
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return problems, nil
		}
		if err != nil {
			return nil, risk.Errorf(risk.EINVALID, "%s: malformed CSV: %v", file, err)
		}
		line, _ := cr.FieldPos(0)
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		raw := rawRecord(rec, ',')
		if e := row(line, raw, get); e != nil {
			problems = append(problems, Problem{File: file, Row: line, Column: e.column, Code: get(need[0]), Reason: e.reason, Raw: raw})
		}
	}
}

func parseDate(v, column string, required bool) (time.Time, *rowError) {
	if v == "" {
		if required {
			return time.Time{}, reject(column, "missing date")
		}
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return time.Time{}, reject(column, "%q is not a date (want YYYY-MM-DD)", v)
	}
	return t, nil
}

// ReadInstitutions reads village_code,kind[,established][,note].
func ReadInstitutions(r io.Reader, file string) ([]Institution, Problems, error) {
	var out []Institution
	seen := map[string]int{}
	problems, err := csvRecords(r, file, []string{"village_code", "kind"}, func(line int, raw string, get func(string) string) *rowError {
		in := Institution{Line: line, VillageCode: get("village_code"), Kind: get("kind"), Note: get("note"), Raw: raw}
		if !codePattern["desa"].MatchString(in.VillageCode) {
			return reject("village_code", "%q is not a village code", in.VillageCode)
		}
		if !risk.IsChoice(risk.InstitutionKinds, in.Kind) {
			return reject("kind", "%q is not one of %s", in.Kind, strings.Join(risk.InstitutionKinds, ", "))
		}
		var e *rowError
		if in.Established, e = parseDate(get("established"), "established", false); e != nil {
			return e
		}
		k := in.VillageCode + "/" + in.Kind
		if first, dup := seen[k]; dup {
			return reject("kind", "duplicate: row %d has the same village and kind", first)
		}
		seen[k] = line
		out = append(out, in)
		return nil
	})
	return out, problems, err
}

// ReadFollowUps reads survey_uuid,started_on[,ended_on][,note].
func ReadFollowUps(r io.Reader, file string) ([]FollowUp, Problems, error) {
	var out []FollowUp
	problems, err := csvRecords(r, file, []string{"survey_uuid", "started_on"}, func(line int, raw string, get func(string) string) *rowError {
		f := FollowUp{Line: line, SurveyUUID: strings.TrimPrefix(get("survey_uuid"), "uuid:"), Note: get("note"), Raw: raw}
		if f.SurveyUUID == "" {
			return reject("survey_uuid", "missing survey uuid")
		}
		var e *rowError
		if f.Started, e = parseDate(get("started_on"), "started_on", true); e != nil {
			return e
		}
		if f.Ended, e = parseDate(get("ended_on"), "ended_on", false); e != nil {
			return e
		}
		if !f.Ended.IsZero() && f.Ended.Before(f.Started) {
			return reject("ended_on", "ends before it starts")
		}
		out = append(out, f)
		return nil
	})
	return out, problems, err
}
