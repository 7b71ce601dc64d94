// Package pull fetches survey submissions straight from the servers the
// fieldworkers send them to: KoBoToolbox's v2 API (the JSON data endpoint,
// paged with limit/start and "next" links, token authentication) and ODK
// Central's OData feed (Submissions with repeats expanded, paged with
// @odata.nextLink, HTTP Basic authentication). Submissions become
// ingest.Submission values, read and validated like an export file.
//
// Pulls are incremental: the caller passes the cursor of the last pull
// (KoBoToolbox: the highest _id loaded; ODK Central: the newest
// submissionDate) and gets the new one back with the submissions.
package pull

import (
	"context"
	"encoding/json"

	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kesempatan/riskmap/internal/httpretry"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Client fetches pages with retries: a 5xx answer or a network error is
// tried again (Retries times, waiting Backoff, then twice as long each
// time); an authentication error is not.
type Client struct {
	HTTP     *http.Client
	Retries  int
	Backoff  time.Duration
	PageSize int
	// MaxPages bounds a pull, against a server whose next link never ends.
	MaxPages int
}

// NewClient returns a client with production settings.
func NewClient() *Client {
	return &Client{HTTP: &http.Client{Timeout: 2 * time.Minute}, Retries: 4, Backoff: 2 * time.Second, PageSize: 1000, MaxPages: 100000}
}

// Result is one pull: the new submissions and the cursor to pass next time.
type Result struct {
	Submissions []ingest.Submission
	Cursor      string
	Pages       int
}

// get fetches a URL as JSON into v, retrying transient failures.
func (c *Client) get(ctx context.Context, u string, auth func(*http.Request), v any) error {
	// The request's authentication header, taken from a request auth fills.
	probe, _ := http.NewRequest(http.MethodGet, u, nil)
	auth(probe)
	probe.Header.Set("Accept", "application/json")
	status, body, err := httpretry.Client{HTTP: c.HTTP, Retries: c.Retries, Backoff: c.Backoff}.Do(ctx, http.MethodGet, u, probe.Header, nil)
	switch {
	case err != nil:
		return err
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return risk.Errorf(risk.EINVALID, "the server refused the credentials (HTTP %d at %s): check the token or password file, and that the account may read this form's submissions", status, redact(u))
	case status == http.StatusNotFound:
		return risk.Errorf(risk.ENOTFOUND, "the server has no such form (HTTP 404 at %s): check --server and the form's id", redact(u))
	case status != http.StatusOK:
		return fmt.Errorf("GET %s: HTTP %d: %s", redact(u), status, httpretry.Snippet(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: the answer is not the JSON the API documents: %v", redact(u), err)
	}
	return nil
}

var redact = httpretry.Redact

// text turns a JSON answer into the text an export would hold.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// KoBo identifies a KoBoToolbox form (an "asset").
type KoBo struct {
	Server string // e.g. https://kf.kobotoolbox.org
	Asset  string // the asset's uid
	Token  string
}

// PullKoBo fetches the submissions with _id above the cursor (all when it
// is empty), oldest first.
func (c *Client) PullKoBo(ctx context.Context, k KoBo, cursor string) (Result, error) {
	last := int64(0)
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil {
			return Result{}, fmt.Errorf("kobo cursor %q is not an _id", cursor)
		}
		last = n
	}
	q := url.Values{}
	q.Set("format", "json")
	q.Set("limit", strconv.Itoa(c.PageSize))
	q.Set("sort", `{"_id":1}`)
	if last > 0 {
		q.Set("query", fmt.Sprintf(`{"_id":{"$gt":%d}}`, last))
	}
	next := strings.TrimRight(k.Server, "/") + "/api/v2/assets/" + url.PathEscape(k.Asset) + "/data/?" + q.Encode()
	auth := func(r *http.Request) { r.Header.Set("Authorization", "Token "+k.Token) }
	res := Result{Cursor: cursor}
	for next != "" {
		if res.Pages >= c.MaxPages {
			return res, fmt.Errorf("kobo: more than %d pages: stopping", c.MaxPages)
		}
		var page struct {
			Count   int              `json:"count"`
			Next    *string          `json:"next"`
			Results []map[string]any `json:"results"`
		}
		if err := c.get(ctx, next, auth, &page); err != nil {
			return res, err
		}
		res.Pages++
		for _, r := range page.Results {
			sub := ingest.Submission{Fields: map[string]string{}}
			for key, v := range r {
				if key == "children" || strings.HasSuffix(key, "/children") {
					entries, _ := v.([]any)
					for _, e := range entries {
						obj, _ := e.(map[string]any)
						child := map[string]string{}
						for ck, cv := range obj {
							if s, ok := text(cv); ok {
								child[ck] = s
							}
						}
						sub.Children = append(sub.Children, child)
					}
					continue
				}
				if s, ok := text(v); ok { // _attachments, _geolocation, _tags...: not answers
					sub.Fields[key] = s
				}
			}
			if id, err := strconv.ParseInt(sub.Fields["_id"], 10, 64); err == nil && id > last {
				last = id
			}
			res.Submissions = append(res.Submissions, sub)
		}
		next = ""
		if page.Next != nil {
			next = *page.Next
		}
	}
	if last > 0 {
		res.Cursor = strconv.FormatInt(last, 10)
	}
	return res, nil
}

// ODK identifies an ODK Central form.
type ODK struct {
	Server   string // e.g. https://central.example.org
	Project  int
	Form     string // the xmlFormId
	User     string // an e-mail address
	Password string
}

// PullODK fetches the submissions received after the cursor (an RFC 3339
// time; all when empty) from the OData feed, repeats expanded.
func (c *Client) PullODK(ctx context.Context, o ODK, cursor string) (Result, error) {
	q := url.Values{}
	q.Set("$expand", "*")
	q.Set("$top", strconv.Itoa(c.PageSize))
	q.Set("$count", "true")
	q.Set("$orderby", "__system/submissionDate asc")
	if cursor != "" {
		if _, err := time.Parse(time.RFC3339Nano, cursor); err != nil {
			return Result{}, fmt.Errorf("odk cursor %q is not a time", cursor)
		}
		q.Set("$filter", "__system/submissionDate gt "+cursor)
	}
	next := fmt.Sprintf("%s/v1/projects/%d/forms/%s.svc/Submissions?%s", strings.TrimRight(o.Server, "/"), o.Project,
		url.PathEscape(o.Form), strings.ReplaceAll(q.Encode(), "+", "%20"))
	auth := func(r *http.Request) { r.SetBasicAuth(o.User, o.Password) }
	res := Result{Cursor: cursor}
	newest := cursor
	for next != "" {
		if res.Pages >= c.MaxPages {
			return res, fmt.Errorf("odk: more than %d pages: stopping", c.MaxPages)
		}
		var page struct {
			Value    []map[string]any `json:"value"`
			NextLink string           `json:"@odata.nextLink"`
		}
		if err := c.get(ctx, next, auth, &page); err != nil {
			return res, err
		}
		res.Pages++
		for _, r := range page.Value {
			sub := ingest.Submission{Fields: map[string]string{}}
			id, _ := r["__id"].(string)
			sub.Fields["KEY"] = id
			if sys, ok := r["__system"].(map[string]any); ok {
				if d, ok := sys["submissionDate"].(string); ok {
					sub.Fields["SubmissionDate"] = d
					if newer(d, newest) {
						newest = d
					}
				}
			}
			flattenODK(r, "", sub.Fields, &sub.Children)
			res.Submissions = append(res.Submissions, sub)
		}
		next = page.NextLink
	}
	res.Cursor = newest
	return res, nil
}

func newer(a, b string) bool {
	ta, err := time.Parse(time.RFC3339Nano, a)
	if err != nil {
		return false
	}
	tb, err := time.Parse(time.RFC3339Nano, b)
	return err != nil || ta.After(tb)
}

// flattenODK walks an OData entity: groups are nested objects (paths joined
// with "/"), a geopoint is GeoJSON (coordinates lon, lat, alt and
// properties.accuracy), a repeat is an array of entities (its own
// children), navigation links and __ system fields are skipped.
func flattenODK(obj map[string]any, prefix string, out map[string]string, children *[]map[string]string) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := obj[k]
		if strings.HasPrefix(k, "__") || strings.Contains(k, "@odata") {
			continue
		}
		path := prefix + k
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "Point" {
				out[path] = geoPoint(x)
				continue
			}
			flattenODK(x, path+"/", out, children)
		case []any:
			if children == nil {
				continue // a repeat inside a repeat: not in this form
			}
			for _, e := range x {
				entry, _ := e.(map[string]any)
				child := map[string]string{}
				flattenODK(entry, "", child, nil)
				*children = append(*children, child)
			}
		default:
			if s, ok := text(v); ok {
				out[path] = s
			}
		}
	}
}

// geoPoint turns OData's GeoJSON point into a geopoint answer "lat lon alt accuracy".
func geoPoint(p map[string]any) string {
	coords, _ := p["coordinates"].([]any)
	if len(coords) < 2 {
		return ""
	}
	part := func(v any) string { s, _ := text(v); return s }
	out := []string{part(coords[1]), part(coords[0]), "0", "0"}
	if len(coords) >= 3 {
		out[2] = part(coords[2])
	}
	if props, ok := p["properties"].(map[string]any); ok {
		if a, ok := text(props["accuracy"]); ok {
			out[3] = a
		}
	}
	return strings.Join(out, " ")
}
