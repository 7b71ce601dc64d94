package httpapi

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/kesempatan/riskmap/internal/postgres"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · riskmap</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}header a{margin-right:1rem}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:.2rem .4rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}pre{background:#f7f7f7;padding:1rem;overflow:auto}</style></head>
<body><header><a href="/">riskmap</a><a href="/collections?f=html">collections</a><a href="/api">API (OpenAPI)</a><a href="/conformance?f=html">conformance</a></header>
<h1>{{.Title}}</h1>
{{with .Summary}}<p>{{.}}</p>{{end}}
{{with .Links}}<ul>{{range .}}<li><a href="{{.Href}}">{{if .Title}}{{.Title}}{{else}}{{.Href}}{{end}}</a> <small>{{.Rel}}{{with .Type}}, {{.}}{{end}}</small></li>{{end}}</ul>{{end}}
{{with .Columns}}<table><thead><tr>{{range .}}<th>{{.}}</th>{{end}}</tr></thead><tbody>
{{range $.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</tbody></table>{{end}}
{{with .JSON}}<pre>{{.}}</pre>{{end}}
</body></html>
`))

type pageData struct {
	Title, Summary string
	Links          []link
	Columns        []string
	Rows           [][]string
	JSON           string
}

func writePage(w http.ResponseWriter, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'")
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
	if json.Unmarshal(b, &doc) == nil {
		d.Links = doc.Links
		if len(doc.Collections) > 0 {
			d.Columns = []string{"id", "title", "description"}
			for _, c := range doc.Collections {
				d.Rows = append(d.Rows, []string{c.ID, c.Title, c.Description})
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
func (s *Server) itemsHTML(w http.ResponseWriter, r *http.Request, c *postgres.Collection, q *postgres.ItemsQuery, matched int) {
	if q.Limit > 1000 {
		q.Limit = 1000 // a browser table, not a download
	}
	var buf strings.Builder
	buf.WriteString("[")
	n, err := s.db.StreamFeatures(r.Context(), q, func() io.Writer { return &buf })
	if err != nil {
		s.fail(w, r, err)
		return
	}
	buf.WriteString("]")
	var features []struct {
		ID         any            `json:"id"`
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal([]byte(buf.String()), &features); err != nil {
		s.fail(w, r, err)
		return
	}
	var cols []string
	if len(features) > 0 {
		for k := range features[0].Properties {
			cols = append(cols, k)
		}
		sort.Strings(cols)
	}
	d := pageData{Title: c.Title, Columns: append([]string{"id"}, cols...),
		Summary: fmt.Sprintf("Features %d to %d of %d.", q.Offset+min(1, n), q.Offset+n, matched),
		Links: []link{
			{s.pageURL(r, q.Offset, "json"), "alternate", typeGeoJSON, "this page as GeoJSON"},
			{s.pageURL(r, q.Offset, "csv"), "alternate", typeCSV, "this page as CSV"},
		}}
	if q.Offset+q.Limit < matched {
		d.Links = append(d.Links, link{s.pageURL(r, q.Offset+q.Limit, "html"), "next", typeHTML, "next page"})
	}
	if q.Offset > 0 {
		d.Links = append(d.Links, link{s.pageURL(r, max(q.Offset-q.Limit, 0), "html"), "prev", typeHTML, "previous page"})
	}
	for _, f := range features {
		row := []string{fmt.Sprint(f.ID)}
		for _, k := range cols {
			switch v := f.Properties[k].(type) {
			case nil:
				row = append(row, "")
			case string:
				row = append(row, v)
			default:
				b, _ := json.Marshal(v)
				row = append(row, string(b))
			}
		}
		d.Rows = append(d.Rows, row)
	}
	writePage(w, d)
}
