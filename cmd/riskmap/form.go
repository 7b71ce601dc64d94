package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/kesempatan/riskmap/geodata/forms"
	"github.com/kesempatan/riskmap/internal/xlsx"
)

// FormFile is where the committed XLSForm lives; ChoicesFile its choices
// sheet, whose kecamatan and desa lists come from BoundaryDir.
var (
	FormFile  = filepath.Join("geodata", "forms", "kesempatan-household.xlsx")
	VisitFile = filepath.Join("geodata", "forms", "kesempatan-visit.xlsx")
	// VisitKoBoFile is the visit form for KoBoToolbox (no entities sheet).
	VisitKoBoFile = filepath.Join("geodata", "forms", "kesempatan-visit-kobo.xlsx")
	ChoicesFile   = filepath.Join("geodata", "forms", "choices.csv")
	BoundaryDir   = filepath.Join("geodata", "boundaries")
)

func formCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("form", "form [--out FILE.xlsx] [--boundaries DIR]\n\nWrites the household survey and the case visit form as XLSForm workbooks to\nupload to KoBoToolbox or ODK Central. Its sheets are geodata/forms/*.csv; the kecamatan and village\nchoices (a cascading select) are rewritten first from the real boundaries in\ngeodata/boundaries. docs/survey-form.md explains each field. Run it from the\nrepository's root.")
	out := fs.String("out", FormFile, "file to write")
	dir := fs.String("boundaries", BoundaryDir, "directory of jatim-kecamatan.geojson and jatim-desa.geojson")
	if err := fs.Parse(args); err != nil {
		return err
	}
	choices, err := choicesWithAreas(*dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(ChoicesFile, choices, 0o644); err != nil {
		return err
	}
	b, err := buildForm(choices)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	for file, kobo := range map[string]bool{VisitFile: false, VisitKoBoFile: true} {
		v, err := buildVisitForm(kobo)
		if err != nil {
			return err
		}
		if err := os.WriteFile(file, v, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "wrote %s, %s, %s (the case visit form for ODK Central, which reads and updates the entity list \"cases\") and %s (for KoBoToolbox, which reads the media file cases.csv)\n",
		ChoicesFile, *out, VisitFile, VisitKoBoFile)
	return nil
}

// buildVisitForm returns the case visit form's XLSForm workbook: the
// sheets of geodata/forms/visit, whose remediation choices a test keeps
// equal to the model's catalogue. For ODK Central (kobo false) it keeps the
// entities sheet and the save_to column, so a visit updates the case's
// entity; KoBoToolbox has no entities, so its form drops both and reads the
// same list as the media file cases.csv.
func buildVisitForm(kobo bool) ([]byte, error) {
	var sheets []xlsx.Sheet
	for _, name := range forms.VisitSheetNames {
		if kobo && name == "entities" {
			continue
		}
		rows, err := forms.VisitSheet(name)
		if err != nil {
			return nil, err
		}
		if kobo && name == "survey" {
			rows = dropColumn(rows, "save_to")
		}
		sheets = append(sheets, xlsx.Sheet{Name: name, Rows: rows})
	}
	var buf bytes.Buffer
	err := xlsx.Write(&buf, sheets)
	return buf.Bytes(), err
}

func dropColumn(rows [][]string, name string) [][]string {
	i := slices.Index(rows[0], name)
	if i < 0 {
		return rows
	}
	out := make([][]string, len(rows))
	for r, row := range rows {
		out[r] = slices.Delete(slices.Clone(row), i, i+1)
	}
	return out
}

// choicesWithAreas returns the choices sheet as CSV: the committed answer
// lists, then the kecamatan and desa lists built from the boundaries (name:
// the Kemendagri code; label: the name; desa filtered by kecamatan).
func choicesWithAreas(dir string) ([]byte, error) {
	rows, err := forms.Sheet("choices")
	if err != nil {
		return nil, err
	}
	var out [][]string
	for _, r := range rows {
		if r[0] != "kecamatan" && r[0] != "desa" {
			out = append(out, r)
		}
	}
	for _, level := range []string{"kecamatan", "desa"} {
		areas, err := readAreaNames(filepath.Join(dir, "jatim-"+level+".geojson"))
		if err != nil {
			return nil, err
		}
		for _, a := range areas {
			filter := ""
			if level == "desa" {
				filter = a.Kecamatan
			}
			out = append(out, []string{level, a.Code, a.Name, a.Name, filter})
		}
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type areaName struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	Kecamatan string `json:"kecamatan_code"`
}

func readAreaNames(file string) ([]areaName, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var fc struct {
		Features []struct {
			Properties areaName `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	areas := make([]areaName, 0, len(fc.Features))
	for _, f := range fc.Features {
		areas = append(areas, f.Properties)
	}
	sort.Slice(areas, func(i, j int) bool { return areas[i].Code < areas[j].Code })
	return areas, nil
}

// buildForm returns the XLSForm workbook's bytes, with choices as the
// choices sheet's CSV.
func buildForm(choices []byte) ([]byte, error) {
	var sheets []xlsx.Sheet
	for _, name := range forms.SheetNames {
		rows, err := forms.Sheet(name)
		if name == "choices" {
			rows, err = csv.NewReader(bytes.NewReader(choices)).ReadAll()
		}
		if err != nil {
			return nil, err
		}
		sheets = append(sheets, xlsx.Sheet{Name: name, Rows: rows})
	}
	var buf bytes.Buffer
	err := xlsx.Write(&buf, sheets)
	return buf.Bytes(), err
}
