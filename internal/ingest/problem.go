// Package ingest reads the files riskmap imports: GeoJSON boundaries and
// tobacco fields, KoBoToolbox and ODK Central survey CSVs, and the labour
// calendar. It turns them into domain records and, for every row it cannot
// use, a Problem that names the file, the row, the column and the reason.
// It never drops a row silently.
package ingest

import (
	"fmt"
	"strings"
)

// Problem is one rejected row (or feature) of an input file.
type Problem struct {
	File   string
	Row    int    // CSV: line number (the header is line 1); GeoJSON: feature index from 0
	Column string // the field or property at fault; empty when the whole row is
	Code   string // the row's id (village code, survey uuid), when known
	Reason string
	Raw    string // the row as read, so a reject file loses nothing
	Offset int64  // CSV: byte offset of the row, to read Raw again when it is empty
}

func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if strings.HasSuffix(strings.ToLower(p.File), "json") {
		fmt.Fprintf(&b, ": feature %d", p.Row)
	} else {
		fmt.Fprintf(&b, ": row %d", p.Row)
	}
	if p.Code != "" {
		fmt.Fprintf(&b, " (%s)", p.Code)
	}
	if p.Column != "" {
		fmt.Fprintf(&b, ": %s", p.Column)
	}
	fmt.Fprintf(&b, ": %s", p.Reason)
	return b.String()
}

// Problems is a list of rejected rows; as an error it reads as a short report.
type Problems []Problem

func (ps Problems) Error() string {
	const show = 20
	var b strings.Builder
	fmt.Fprintf(&b, "%d rejected row(s); the import changed nothing (use --reject-file to load the good rows and write the bad ones there):", len(ps))
	for i, p := range ps {
		if i == show {
			fmt.Fprintf(&b, "\n  ... and %d more", len(ps)-show)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Summary is what an import did.
type Summary struct {
	Kind     string // boundaries/desa, survey, plantations, calendar
	File     string
	Read     int // rows or features read
	Inserted int
	Updated  int
	Repaired []Repair
	Notes    []Problem // rows loaded with a warning (a point near, not in, its reported village)
	Rejected Problems
	Children struct{ Inserted, Replaced int }
}

// Repair is a geometry that was invalid and repaired with ST_MakeValid.
type Repair struct {
	Index  int
	Code   string
	Reason string // ST_IsValidReason before the repair
}

// Progress is told how many rows a stage has handled so far.
type Progress func(stage string, rows int64)
