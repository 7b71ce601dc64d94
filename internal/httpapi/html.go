package httpapi

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/kesempatan/riskmap/internal/postgres"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · riskmap</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}header a{margin-right:1rem}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:.2rem .4rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}pre{background:#f7f7f7;padding:1rem;overflow:auto}td.n{text-align:right}td.w{color:#777;font-style:italic}
#preview{height:320px;max-width:900px;margin:1rem 0;border:1px solid #ccc}.help{max-width:60rem;background:#f7f7f7;padding:.5rem 1rem}</style>
{{if .Preview}}<link rel="stylesheet" href="/static/vendor/maplibre-gl.css">{{end}}</head>
<body><header><a href="/">riskmap</a><a href="/collections?f=html">collections</a><a href="/api">API (OpenAPI)</a><a href="/conformance?f=html">conformance</a></header>
<h1>{{.Title}}</h1>
{{with .Summary}}<p>{{.}}</p>{{end}}
{{with .Help}}<div class="help">{{.}}</div>{{end}}
{{with .Preview}}<div id="preview" data-src="{{.}}"></div>{{end}}
{{with .Links}}<ul>{{range .}}<li><a href="{{.Href}}">{{if .Title}}{{.Title}}{{else}}{{.Href}}{{end}}</a> <small>{{.Rel}}{{with .Type}}, {{.}}{{end}}</small></li>{{end}}</ul>{{end}}
{{with .Columns}}<table><thead><tr>{{range .}}<th>{{.}}</th>{{end}}</tr></thead><tbody>
{{range $.Rows}}<tr>{{range .}}<td{{with .Class}} class="{{.}}"{{end}}>{{.Text}}</td>{{end}}</tr>{{end}}</tbody></table>{{end}}
{{with .JSON}}<pre>{{.}}</pre>{{end}}
{{if .Preview}}<script src="/static/vendor/maplibre-gl-csp.js"></script><script src="/static/preview.js"></script>{{end}}
</body></html>
`))

type pageData struct {
	Title, Summary string
	Help           template.HTML
	Links          []link
	Columns        []string
	Rows           [][]cell
	JSON           string
	Preview        string // a GeoJSON URL to draw on a small map
}

// cell is a table cell: its text and a class (n: number, w: withheld).
type cell struct{ Text, Class string }

func textCells(ss ...string) []cell {
	out := make([]cell, len(ss))
	for i, s := range ss {
		out[i] = cell{Text: s}
	}
	return out
}

func writePage(w http.ResponseWriter, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	_ = page.Execute(w, d)
}

// renderHTML shows any JSON resource as a page: its links, then the document.
func renderHTML(w http.ResponseWriter, title string, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	d := pageData{Title: title, JSON: string(b)}
	var doc struct {
		Links       []link `json:"links"`
		Collections []struct {
			ID, Title, Description string
		} `json:"collections"`
	}
	if title == "riskmap" {
		d.Help = landingHelp
	}
	if json.Unmarshal(b, &doc) == nil {
		d.Links = doc.Links
		if len(doc.Collections) > 0 {
			d.Columns = []string{"id", "title", "description"}
			for _, c := range doc.Collections {
				d.Rows = append(d.Rows, textCells(c.ID, c.Title, c.Description))
			}
			for _, c := range doc.Collections {
				d.Links = append(d.Links, link{Href: "/collections/" + c.ID + "/items?f=html", Rel: "items", Title: c.Title})
			}
			d.JSON = ""
		}
	}
	writePage(w, d)
}

// itemsHTML shows a page of features as a table.
func (s *Server) itemsHTML(w http.ResponseWriter, r *http.Request, c *postgres.Collection, q *postgres.ItemsQuery, matched int) error {
	if q.Limit > 1000 {
		q.Limit = 1000 // a browser table, not a download
	}
	var buf strings.Builder
	buf.WriteString("[")
	n, err := s.db.StreamFeatures(r.Context(), q, func() io.Writer { return &buf })
	if err != nil {
		return err
	}
	buf.WriteString("]")
	var features []struct {
		ID         any            `json:"id"`
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal([]byte(buf.String()), &features); err != nil {
		return err
	}
	cols := tableColumns(c, features)
	d := pageData{Title: c.Title, Columns: append([]string{"id"}, cols...),
		Summary: fmt.Sprintf("Features %d to %d of %d.", q.Offset+min(1, n), q.Offset+n, matched),
		Links: []link{
			{s.pageURL(r, q.Offset, "json"), "alternate", typeGeoJSON, "this page as GeoJSON"},
			{s.pageURL(r, q.Offset, "csv"), "alternate", typeCSV, "this page as CSV"},
		}}
	if !c.Private {
		d.Preview = s.pageURL(r, q.Offset, "json")
	}
	if q.Offset+q.Limit < matched {
		d.Links = append(d.Links, link{s.pageURL(r, q.Offset+q.Limit, "html"), "next", typeHTML, "next page"})
	}
	if q.Offset > 0 {
		d.Links = append(d.Links, link{s.pageURL(r, max(q.Offset-q.Limit, 0), "html"), "prev", typeHTML, "previous page"})
	}
	for _, f := range features {
		row := []cell{{Text: fmt.Sprint(f.ID)}}
		for _, k := range cols {
			row = append(row, formatCell(f.Properties, k))
		}
		d.Rows = append(d.Rows, row)
	}
	writePage(w, d)
	return nil
}

// lead are the properties a person reads first.
var lead = []string{"name", "score", "tier", "status", "kecamatan", "village_code"}

// tableColumns orders a page's columns: the lead ones, then the
// collection's order (not alphabetical).
func tableColumns(c *postgres.Collection, features []struct {
	ID         any            `json:"id"`
	Properties map[string]any `json:"properties"`
}) []string {
	if len(features) == 0 {
		return nil
	}
	present := features[0].Properties
	var cols []string
	seen := map[string]bool{}
	for _, k := range lead {
		if _, ok := present[k]; ok {
			cols, seen[k] = append(cols, k), true
		}
	}
	for _, p := range c.Properties {
		if _, ok := present[p.Name]; ok && !seen[p.Name] {
			cols, seen[p.Name] = append(cols, p.Name), true
		}
	}
	var rest []string
	for k := range present {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(cols, rest...)
}

// formatCell shows a value for a person: numbers rounded, a figure that is
// null in a published area as "withheld", nested values as JSON.
func formatCell(props map[string]any, k string) cell {
	switch v := props[k].(type) {
	case nil:
		if st, _ := props["status"].(string); st == "published" || st == "withheld" {
			return cell{"withheld", "w"}
		}
		return cell{"–", "w"}
	case string:
		return cell{Text: v}
	case bool:
		return cell{Text: fmt.Sprint(v)}
	case float64:
		return cell{strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64), "n"}
	default:
		b, _ := json.Marshal(v)
		return cell{Text: string(b)}
	}
}

// featureHTML shows one feature: its properties (the lead ones first) and a
// map of it; the coordinates are in the GeoJSON, not on the page.
func (s *Server) featureHTML(w http.ResponseWriter, c *postgres.Collection, fid string, feature map[string]any, links []link) {
	props, _ := feature["properties"].(map[string]any)
	fs := []struct {
		ID         any            `json:"id"`
		Properties map[string]any `json:"properties"`
	}{{ID: fid, Properties: props}}
	d := pageData{Title: c.Title + " " + fid, Columns: []string{"property", "value"}, Links: links}
	for _, k := range tableColumns(c, fs) {
		d.Rows = append(d.Rows, []cell{{Text: k}, formatCell(props, k)})
	}
	if !c.Private {
		d.Preview = s.base + "/collections/" + c.ID + "/items/" + url.PathEscape(fid) + "?f=json"
	}
	writePage(w, d)
}

var landingHelp = template.HTML(`<p><b>In QGIS</b> (3.16 or later): Layer, Add Layer, Add WFS / OGC API - Features Layer; New; URL: this page's address; for household layers, Authentication, Basic: any user name, your API key as the password. Filters you set on a layer are sent to the server (CQL2). For vector tiles: Vector Tiles, New Generic Connection, URL <code>/tiles/villages/{z}/{x}/{y}.mvt</code> on this server.</p>
<p><b>In ArcGIS Pro</b> (3.0 or later): Insert, Connections, Server, New OGC API Server; URL: this page's address; for household layers, user name anything and your API key as the password.</p>
<p><b>With GDAL</b>: <code>ogr2ogr out.gpkg OAPIF:https://this-server/ -oo USERPWD=x:KEY</code>. Coordinates are in CRS84 unless you ask for <code>crs=</code> EPSG:4326 or EPSG:32749 (UTM 49S). The figures are published under the rules in docs/methodology.md; survey data in the demo is synthetic.</p>`)
