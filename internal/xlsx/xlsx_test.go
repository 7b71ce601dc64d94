package xlsx

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"io"
	"testing"
)

func TestColumn(t *testing.T) {
	for i, want := range map[int]string{0: "A", 25: "Z", 26: "AA", 27: "AB", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA"} {
		if got := column(i); got != want {
			t.Errorf("column(%d) = %s, want %s", i, got, want)
		}
	}
}

// TestRoundTrip reads the workbook back as XML and finds every cell.
func TestRoundTrip(t *testing.T) {
	rows := [][]string{{"type", "name", "label"}, {"text", "village", `a <b> & "c"`}, {"", "x", ""}}
	var buf bytes.Buffer
	if err := Write(&buf, []Sheet{{Name: "survey", Rows: rows}}); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var sheet io.ReadCloser
	for _, f := range z.File {
		if f.Name == "xl/worksheets/sheet1.xml" {
			sheet, _ = f.Open()
		}
	}
	if sheet == nil {
		t.Fatal("no sheet1.xml")
	}
	var ws struct {
		Rows []struct {
			Cells []struct {
				Ref  string `xml:"r,attr"`
				Text string `xml:"is>t"`
			} `xml:"c"`
		} `xml:"sheetData>row"`
	}
	if err := xml.NewDecoder(sheet).Decode(&ws); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range ws.Rows {
		for _, c := range r.Cells {
			got[c.Ref] = c.Text
		}
	}
	want := map[string]string{"A1": "type", "B1": "name", "C1": "label", "A2": "text", "B2": "village", "C2": `a <b> & "c"`, "B3": "x"}
	if len(got) != len(want) {
		t.Errorf("cells %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("cell %s = %q, want %q", k, got[k], v)
		}
	}
	var again bytes.Buffer
	_ = Write(&again, []Sheet{{Name: "survey", Rows: rows}})
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two writes of the same sheets differ")
	}
}
