package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// handleLabels serves /labels/{level}: a point inside each village or
// kecamatan with its name, for the map's labels.
func (s *Server) handleLabels() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if done, err := s.notModified(w, r, "json"); done || err != nil {
			return err
		}
		var q postgres.LabelQuery
		v := r.URL.Query() // checked by the route's guard, but for bbox's form
		if b := v.Get("bbox"); b != "" {
			box, perr := parseBBox(b, 0) // CRS84: minLon,minLat,maxLon,maxLat
			if perr != nil {
				return perr
			}
			q.BBox = &box
		}
		q.Q = strings.TrimSpace(v.Get("q"))
		q.Limit = intQuery(v, "limit", 0)
		ls, err := s.db.Labels(r.Context(), chi.URLParam(r, "level"), q)
		if err != nil {
			return err
		}
		s.respond(w, r, "json", typeJSON, "Labels", ls)
		return nil
	}
}

var tierColour = map[string]string{"high": "#bd0026", "medium": "#fd8d3c", "low": "#fed976", "insufficient_data": "#d9d9d9", "withheld": "#bdbdbd", "no_data": "#f0f0f0"}

var tierName = map[string]string{"high": "tinggi", "medium": "sedang", "low": "rendah", "insufficient_data": "sampel kurang", "withheld": "dirahasiakan", "no_data": "belum disurvei"}

var componentName = map[string]string{"prevalence": "anak yang bekerja (prevalensi)", "mean_household_score": "skor rata-rata rumah tangga",
	"tobacco_share": "luas tembakau", "farm_labourer_share": "rumah tangga buruh tani", "poverty_share": "rumah tangga miskin",
	"institutions_missing": "lembaga perlindungan anak yang belum ada"}

var monthID = []string{"Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"colour": func(t string) string { return tierColour[t] },
	"tier":   func(t string) string { return tierName[t] },
	"num": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return strconv.FormatFloat(*f, 'f', 1, 64)
	},
	"count": func(n *int) string {
		if n == nil {
			return "dirahasiakan"
		}
		return "±" + strconv.Itoa(*n)
	},
	"comp": func(k string) string { return componentName[k] },
	"inc":  func(i int) int { return i + 1 },
	"prob": func(p *float64) string { return strings.Replace(strconv.FormatFloat(*p, 'f', 2, 64), ".", ",", 1) },
	"ranks": func(lo, hi *int) string {
		switch {
		case lo == nil || hi == nil:
			return ""
		case *lo == *hi:
			return strconv.Itoa(*lo)
		}
		return strconv.Itoa(*lo) + "–" + strconv.Itoa(*hi)
	},
}).Parse(`<!doctype html>
<html lang="id"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
@page { size: A4; margin: 14mm; }
body{font:11pt/1.35 system-ui,sans-serif;color:#111;max-width:190mm;margin:0 auto}
h1{font-size:16pt;margin:0 0 2mm} .meta{color:#444;font-size:9pt} .synthetic{border:2px solid #b00;color:#b00;padding:1mm 2mm;font-weight:bold;display:inline-block}
svg{width:100%;height:95mm;border:1px solid #999;background:#fafafa} table{border-collapse:collapse;width:100%;font-size:9.5pt;margin-top:3mm}
td,th{border:1px solid #bbb;padding:.6mm 1.5mm;text-align:left} td.n{text-align:right} .legend span{display:inline-block;width:4mm;height:3mm;border:1px solid #777;margin:0 1mm 0 3mm;vertical-align:-.3mm}
.noprint{margin:2mm 0} @media print{.noprint{display:none}}
</style></head><body>
<p class="noprint"><button onclick="window.print()">Cetak / Print</button> · <a href="/map?village={{.Code}}">peta</a></p>
<h1>{{.Title}}</h1>
<p class="meta">{{.Subtitle}} · Bulan: <b>{{.Month}}</b> · Data: {{.DataDate}} (model {{.Model}}){{if .Synthetic}} · <span class="synthetic">DATA SINTETIS: contoh, bukan hasil survei</span>{{end}}</p>
<svg viewBox="{{.ViewBox}}" role="img" aria-label="Peta desa-desa kecamatan">
{{range .Areas}}<path d="{{.SVG}}" fill="{{colour .Tier}}" stroke="{{if .Selected}}#000{{else}}#666{{end}}" stroke-width="{{if .Selected}}{{$.Stroke3}}{{else}}{{$.Stroke}}{{end}}" fill-rule="evenodd"><title>{{.Name}}</title></path>
{{end}}</svg>
<p class="legend">Tingkat risiko (skor tahunan; tinggi ≥ {{.High}}, sedang ≥ {{.Medium}}):{{range .Legend}}<span style="background:{{colour .}}"></span>{{tier .}}{{end}}</p>
{{if .Village}}{{with .Village}}
<table><tr><th colspan="2">Desa {{.Name}} ({{.Code}})</th></tr>
<tr><td>Tingkat risiko</td><td>{{tier .Tier}}</td></tr>
<tr><td>Skor tahunan / skor bulan ini</td><td class="n">{{num .Score}} / {{num .Seasonal}}</td></tr>
<tr><td>Rumah tangga disurvei</td><td class="n">{{count .Households}}</td></tr>
<tr><td>Anak 5-17 tahun</td><td class="n">{{count .Children}}</td></tr>
<tr><td>Pekerjaan berbahaya / pekerja anak</td><td class="n">{{count .Hazardous}} / {{count .ChildLabour}}</td></tr>
</table>
{{if .Components}}<table><tr><th>Komponen skor</th><th>poin</th></tr>
{{range $k, $v := .Components}}<tr><td>{{comp $k}}</td><td class="n">{{if $v}}{{num $v}}{{else}}dirahasiakan (bobotnya dialihkan ke komponen lain){{end}}</td></tr>{{end}}</table>{{end}}
{{end}}{{end}}
<table><tr><th>#</th><th>Desa</th><th>Tingkat</th><th>Skor {{.Month}}</th><th>Skor tahunan</th><th>Rumah tangga</th><th>Peringkat (rentang 90%)</th><th>Peluang {{.Top}} terburuk di kecamatan</th></tr>
{{range $i, $a := .Areas}}<tr{{if $a.Selected}} style="font-weight:bold"{{end}}><td class="n">{{inc $i}}</td><td>{{$a.Name}}</td><td>{{tier $a.Tier}}</td><td class="n">{{num $a.Seasonal}}</td><td class="n">{{num $a.Score}}</td><td class="n">{{count $a.Households}}</td><td class="n">{{ranks $a.RankLow $a.RankHigh}}</td><td>{{if $a.PTop}}{{$a.TopCertainty}} ({{prob $a.PTop}}){{end}}</td></tr>
{{end}}</table>
<p class="meta">Peringkat desa yang rentangnya tumpang tindih tidak dapat dibedakan: urutannya tidak pasti. Peluang dan rentang dihitung dari skor dan selang skor yang dipublikasikan (simulasi; lihat docs/methodology.md, "How sure is a rank").</p>
<p class="meta">Sumber: riskmap, Program Kesempatan. Angka yang dipublikasikan dibulatkan ke kelipatan 5; desa dengan kurang dari 10 rumah tangga atau 20 anak tidak ditampilkan angkanya. Metode: docs/methodology.md.</p>
</body></html>`))

// handleReport serves /report/{level}/{code}?month=M: an A4 page of a
// village (among its kecamatan's villages) or a kecamatan, to print or save
// as PDF, in Bahasa Indonesia, from published figures only.
func (s *Server) handleReport() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		month := intQuery(r.URL.Query(), "month", 8) // checked by the route's guard
		level, code := chi.URLParam(r, "level"), chi.URLParam(r, "code")
		rep, err := s.db.Report(r.Context(), level, code, month)
		if err != nil {
			return err
		}
		var run struct {
			Model     string  `json:"model_version"`
			Finished  *string `json:"finished_at"`
			Synthetic bool    `json:"synthetic"`
			Run       *int64  `json:"run"`
		}
		_ = json.Unmarshal(rep.Run, &run)
		var tiers struct{ Medium, High float64 }
		tiers.Medium, tiers.High = 30, 60
		date := "—"
		if run.Finished != nil && len(*run.Finished) >= 10 {
			date = (*run.Finished)[:10]
		}
		title := "Kecamatan " + rep.Name
		subtitle := "Kabupaten " + strings.TrimPrefix(rep.Parent, "Kabupaten ") + " · " + code
		var village *postgres.ReportArea
		if level == "desa" {
			title = "Desa " + rep.Name
			subtitle = "Kecamatan " + rep.Parent + " · " + code
			for i := range rep.Areas {
				if rep.Areas[i].Selected {
					village = &rep.Areas[i]
				}
			}
		}
		vb := rep.ViewBox
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		_ = reportPage.Execute(w, map[string]any{
			"Title": title, "Subtitle": subtitle, "Code": code, "Month": monthID[month-1], "DataDate": date, "Model": run.Model,
			"Synthetic": run.Synthetic, "Areas": rep.Areas, "Village": village, "Top": postgres.ReportTop,
			"ViewBox": fmt.Sprintf("%g %g %g %g", vb[0], vb[1], vb[2], vb[3]),
			"Stroke":  fmt.Sprintf("%g", vb[2]/800), "Stroke3": fmt.Sprintf("%g", vb[2]/200),
			"High": tiers.High, "Medium": tiers.Medium,
			"Legend": []string{"high", "medium", "low", "insufficient_data", "no_data"},
		})
		return nil
	}
}

// writeCSV writes rows as CSV with a header, for spreadsheets.
func writeCSV(w http.ResponseWriter, name string, header []string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write(header)
	_ = cw.WriteAll(rows)
}

// csvValue turns a JSON value into a cell: numbers as they are, lists
// joined with ";", objects as key=value pairs.
func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(math.Round(x*1e6)/1e6, 'f', -1, 64) // no binary noise (4.800000000000001)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = csvValue(e)
		}
		return strings.Join(parts, ";")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + csvValue(x[k])
		}
		return strings.Join(parts, ";")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// jsonRowsToCSV lays out a JSON array of objects as CSV, columns in the
// order of first appearance (the keys are sorted within an object).
func jsonRowsToCSV(w http.ResponseWriter, name string, body []byte, first []string) error {
	var objs []map[string]any
	if err := json.Unmarshal(body, &objs); err != nil {
		return err
	}
	cols := append([]string(nil), first...)
	seen := map[string]bool{}
	for _, c := range cols {
		seen[c] = true
	}
	for _, o := range objs {
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	rows := make([][]string, len(objs))
	for i, o := range objs {
		row := make([]string, len(cols))
		for j, c := range cols {
			row[j] = csvValue(o[c])
		}
		rows[i] = row
	}
	writeCSV(w, name, cols, rows)
	return nil
}
