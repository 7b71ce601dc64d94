// Package forms holds the household survey as an XLSForm, one CSV file per
// sheet (survey, choices, settings): the source that riskmap's importer
// reads against and that `riskmap form` turns into the .xlsx programme
// staff deploy on KoBoToolbox or ODK Central.
package forms

import (
	"embed"
	"encoding/csv"
	"fmt"
)

//go:embed survey.csv choices.csv settings.csv visit/survey.csv visit/choices.csv visit/settings.csv visit/entities.csv
var sheets embed.FS

// SheetNames are the XLSForm sheets, in workbook order.
var SheetNames = []string{"survey", "choices", "settings"}

// VisitSheetNames are the visit form's sheets: the entities sheet declares
// that a visit updates the case's entity on ODK Central (the work list that
// riskmap cases push fills).
var VisitSheetNames = []string{"survey", "choices", "settings", "entities"}

// Sheet returns the rows of one sheet of the household survey, the header
// first.
func Sheet(name string) ([][]string, error) { return read(name + ".csv") }

// VisitSheet returns the rows of one sheet of the case visit form, which
// staff fill in at each remediation or follow-up visit (riskmap import
// visits).
func VisitSheet(name string) ([][]string, error) { return read("visit/" + name + ".csv") }

func read(path string) ([][]string, error) {
	f, err := sheets.Open(path)
	if err != nil {
		return nil, fmt.Errorf("form sheet %s: %w", path, err)
	}
	defer f.Close()
	return csv.NewReader(f).ReadAll()
}
