package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kesempatan/riskmap/geodata/forms"
	"github.com/kesempatan/riskmap/internal/xlsx"
)

// FormFile is where the committed XLSForm lives.
var FormFile = filepath.Join("geodata", "forms", "kesempatan-household.xlsx")

func formCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("form", "form [--out FILE.xlsx]\n\nWrites the household survey as an XLSForm workbook to upload to KoBoToolbox or\nODK Central. Its sheets are geodata/forms/*.csv; docs/survey-form.md explains each field.")
	out := fs.String("out", FormFile, "file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := buildForm()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", *out)
	return nil
}

// buildForm returns the XLSForm workbook's bytes.
func buildForm() ([]byte, error) {
	var sheets []xlsx.Sheet
	for _, name := range forms.SheetNames {
		rows, err := forms.Sheet(name)
		if err != nil {
			return nil, err
		}
		sheets = append(sheets, xlsx.Sheet{Name: name, Rows: rows})
	}
	var buf bytes.Buffer
	err := xlsx.Write(&buf, sheets)
	return buf.Bytes(), err
}
