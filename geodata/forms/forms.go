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

//go:embed survey.csv choices.csv settings.csv
var sheets embed.FS

// SheetNames are the XLSForm sheets, in workbook order.
var SheetNames = []string{"survey", "choices", "settings"}

// Sheet returns the rows of one sheet, the header first.
func Sheet(name string) ([][]string, error) {
	f, err := sheets.Open(name + ".csv")
	if err != nil {
		return nil, fmt.Errorf("form sheet %s: %w", name, err)
	}
	defer f.Close()
	return csv.NewReader(f).ReadAll()
}
