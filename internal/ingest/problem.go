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
	Warnings []string  // warnings about a whole file (a missing optional column, decimal commas)
	Rejected Problems
	Skipped  int // survey rows that are not data: households that did not consent
	Children struct{ Inserted, Replaced, Skipped int }
	// Rounds: households loaded per survey round.
	Rounds map[string]int
	// Identity: how the loaded households were matched to households of
	// earlier rounds (docs/methodology.md, "Rounds and household identity").
	Identity struct{ ProgrammeID, PlaceAndChildren, New, Ambiguous int }
}

// NothingLoaded is the error of an import that would load no row: an empty
// file, or one whose every row was rejected or skipped. The import changes
// nothing (it records no import run either).
type NothingLoaded struct {
	File                    string
	Read, Rejected, Skipped int
}

func (e *NothingLoaded) Error() string {
	switch {
	case e.Read == 0:
		return fmt.Sprintf("%s: the file has no rows (a header only, or no features): there is nothing to import, and nothing was changed", e.File)
	case e.Rejected > 0:
		return fmt.Sprintf("%s: none of the %d row(s) loaded (%d rejected, %d skipped): nothing was changed", e.File, e.Read, e.Rejected, e.Skipped)
	default:
		return fmt.Sprintf("%s: none of the %d row(s) loaded (%d skipped: households that did not consent): nothing was changed", e.File, e.Read, e.Skipped)
	}
}

// Repair is a geometry that was invalid and repaired with ST_MakeValid.
type Repair struct {
	Index  int
	Code   string
	Reason string // ST_IsValidReason before the repair
}

// Progress is told how many rows a stage has handled so far.
type Progress func(stage string, rows int64)
