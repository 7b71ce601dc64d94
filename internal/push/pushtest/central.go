// Package pushtest holds stand-ins for the servers riskmap pushes the work
// list to, answering as their APIs document: tests of internal/push and of
// the riskmap command push to them.
package pushtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Central answers as ODK Central's API documents (docs/api.yaml of
// getodk/central-backend): sessions, datasets and properties, entities
// (single and bulk create, all-or-nothing with 409 on an id it holds, live
// or deleted; PATCH with baseVersion or force; DELETE; restore) and the
// OData entity feed paged with @odata.nextLink.
type Central struct {
	mu       sync.Mutex
	Datasets map[string]*Dataset
	token    string
	// Email and Password are the one account that may log in.
	Email, Password string
	// PageSize is the number of entities per page of the OData feed.
	PageSize int
	// Fail5xx answers the next n requests with 503.
	Fail5xx int
	// DieAfterWrites, when > 0, answers 500 to every write after that many.
	DieAfterWrites int
	writes         int
	// BumpBeforePatch simulates a phone's update of that entity landing
	// just before the next PATCH of it.
	BumpBeforePatch string
}

// Dataset is an entity list: its properties and entities in creation order.
type Dataset struct {
	Props    []string
	Entities map[string]*Entity
	Order    []string
}

// Entity is one entity; a deleted one keeps its id (as Central does).
type Entity struct {
	Label   string
	Data    map[string]string
	Version int
	Deleted bool
}

// NewCentral starts a stand-in for project 7 of an ODK Central server with
// one account, staff@example.org / s3cret. Close the server when done.
func NewCentral() (*Central, *httptest.Server) {
	f := &Central{Datasets: map[string]*Dataset{}, token: "tok-123", PageSize: 7, Email: "staff@example.org", Password: "s3cret"}
	return f, httptest.NewServer(f)
}

var (
	reDataset  = regexp.MustCompile(`^/v1/projects/7/datasets/([^/.]+)$`)
	reProps    = regexp.MustCompile(`^/v1/projects/7/datasets/([^/]+)/properties$`)
	reEntities = regexp.MustCompile(`^/v1/projects/7/datasets/([^/]+)/entities$`)
	reEntity   = regexp.MustCompile(`^/v1/projects/7/datasets/([^/]+)/entities/([^/]+)$`)
	reRestore  = regexp.MustCompile(`^/v1/projects/7/datasets/([^/]+)/entities/([^/]+)/restore$`)
	reOData    = regexp.MustCompile(`^/v1/projects/7/datasets/([^/]+)\.svc/Entities$`)
)

func (f *Central) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	problem := func(status int, code, msg string) { answer(status, map[string]any{"code": code, "message": msg}) }
	if f.Fail5xx > 0 {
		f.Fail5xx--
		problem(503, "503", "maintenance")
		return
	}
	write := r.Method != http.MethodGet && r.URL.Path != "/v1/sessions"
	if write && f.DieAfterWrites > 0 && f.writes >= f.DieAfterWrites {
		problem(500, "500.1", "the server went away")
		return
	}
	if r.URL.Path == "/v1/sessions" && r.Method == http.MethodPost {
		var login struct{ Email, Password string }
		json.Unmarshal(body, &login)
		if login.Email != f.Email || login.Password != f.Password {
			problem(401, "401.2", "Could not authenticate with the provided credentials.")
			return
		}
		answer(200, map[string]string{"token": f.token, "expiresAt": time.Now().Add(24 * time.Hour).Format(time.RFC3339)})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		problem(401, "401.2", "Could not authenticate with the provided credentials.")
		return
	}
	if write {
		f.writes++
	}
	p := r.URL.Path
	switch {
	case p == "/v1/projects/7/datasets" && r.Method == http.MethodPost:
		var d struct{ Name string }
		json.Unmarshal(body, &d)
		if f.Datasets[d.Name] != nil {
			problem(409, "409.3", "A resource already exists with name "+d.Name)
			return
		}
		f.Datasets[d.Name] = &Dataset{Entities: map[string]*Entity{}}
		answer(200, map[string]any{"name": d.Name, "projectId": 7})
	case reDataset.MatchString(p) && r.Method == http.MethodGet:
		d := f.Datasets[reDataset.FindStringSubmatch(p)[1]]
		if d == nil {
			problem(404, "404.1", "Could not find the resource you were looking for.")
			return
		}
		var props []map[string]any
		for _, n := range d.Props {
			props = append(props, map[string]any{"name": n, "odataName": n})
		}
		answer(200, map[string]any{"name": reDataset.FindStringSubmatch(p)[1], "properties": props})
	case reProps.MatchString(p) && r.Method == http.MethodPost:
		d := f.Datasets[reProps.FindStringSubmatch(p)[1]]
		var prop struct{ Name string }
		json.Unmarshal(body, &prop)
		if slices.Contains(d.Props, prop.Name) {
			problem(409, "409.3", "property exists")
			return
		}
		if prop.Name == "name" || prop.Name == "label" || strings.HasPrefix(prop.Name, "__") {
			problem(400, "400.8", "reserved property name")
			return
		}
		d.Props = append(d.Props, prop.Name)
		answer(200, map[string]bool{"success": true})
	case reEntities.MatchString(p) && r.Method == http.MethodPost:
		d := f.Datasets[reEntities.FindStringSubmatch(p)[1]]
		var req struct {
			Entities []struct {
				UUID  string            `json:"uuid"`
				Label string            `json:"label"`
				Data  map[string]string `json:"data"`
			} `json:"entities"`
			Source *struct{ Name string } `json:"source"`
			UUID   string                 `json:"uuid"`
			Label  string                 `json:"label"`
			Data   map[string]string      `json:"data"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			problem(400, "400.1", "bad JSON")
			return
		}
		bulk := req.Entities != nil
		if !bulk {
			req.Entities = append(req.Entities, struct {
				UUID  string            `json:"uuid"`
				Label string            `json:"label"`
				Data  map[string]string `json:"data"`
			}{req.UUID, req.Label, req.Data})
		} else if req.Source == nil || req.Source.Name == "" {
			problem(400, "400.28", "bulk create needs a source name")
			return
		}
		for _, e := range req.Entities {
			if e.Label == "" {
				problem(400, "400.8", "label is empty")
				return
			}
			if d.Entities[e.UUID] != nil {
				problem(409, "409.3", "A resource already exists with uuid value(s) of "+e.UUID)
				return
			}
			for k := range e.Data {
				if !slices.Contains(d.Props, k) {
					problem(400, "400.28", "property "+k+" does not exist")
					return
				}
			}
		}
		for _, e := range req.Entities {
			d.Entities[e.UUID] = &Entity{Label: e.Label, Data: e.Data, Version: 1}
			d.Order = append(d.Order, e.UUID)
		}
		if bulk {
			answer(200, map[string]bool{"success": true})
		} else {
			answer(200, map[string]any{"uuid": req.UUID})
		}
	case reRestore.MatchString(p) && r.Method == http.MethodPost:
		m := reRestore.FindStringSubmatch(p)
		e := f.Datasets[m[1]].Entities[m[2]]
		if e == nil || !e.Deleted {
			problem(404, "404.1", "Could not find the resource you were looking for.")
			return
		}
		e.Deleted = false
		answer(200, map[string]bool{"success": true})
	case reEntity.MatchString(p):
		m := reEntity.FindStringSubmatch(p)
		d := f.Datasets[m[1]]
		e := d.Entities[m[2]]
		if e == nil || e.Deleted {
			problem(404, "404.1", "Could not find the resource you were looking for.")
			return
		}
		switch r.Method {
		case http.MethodGet:
			answer(200, map[string]any{"uuid": m[2], "currentVersion": map[string]any{"label": e.Label, "version": e.Version, "data": e.Data}})
		case http.MethodDelete:
			e.Deleted = true
			answer(200, map[string]bool{"success": true})
		case http.MethodPatch:
			if f.BumpBeforePatch == m[2] {
				f.BumpBeforePatch = ""
				e.Version++
				e.Data["last_visit"] = "2099-01-01"
			}
			q := r.URL.Query()
			if q.Get("force") != "true" {
				bv, err := strconv.Atoi(q.Get("baseVersion"))
				if err != nil {
					problem(400, "400.2", "baseVersion or force is required")
					return
				}
				if bv != e.Version {
					problem(409, "409.15", "Base version does not match the current version")
					return
				}
			}
			var upd struct {
				Label string            `json:"label"`
				Data  map[string]string `json:"data"`
			}
			json.Unmarshal(body, &upd)
			for k, v := range upd.Data {
				if !slices.Contains(d.Props, k) {
					problem(400, "400.28", "property "+k+" does not exist")
					return
				}
				e.Data[k] = v
			}
			if upd.Label != "" {
				e.Label = upd.Label
			}
			e.Version++
			answer(200, map[string]any{"uuid": m[2]})
		}
	case reOData.MatchString(p) && r.Method == http.MethodGet:
		d := f.Datasets[reOData.FindStringSubmatch(p)[1]]
		var live []string
		for _, id := range d.Order {
			if !d.Entities[id].Deleted {
				live = append(live, id)
			}
		}
		skip, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
		end := min(skip+f.PageSize, len(live))
		var value []map[string]any
		for _, id := range live[skip:end] {
			e := d.Entities[id]
			v := map[string]any{"__id": id, "label": e.Label, "__system": map[string]any{"version": e.Version, "conflict": nil}}
			for k, x := range e.Data {
				v[k] = x
			}
			value = append(value, v)
		}
		out := map[string]any{"@odata.context": "x", "value": value}
		if end < len(live) {
			out["@odata.nextLink"] = "http://" + r.Host + p + "?$top=" + r.URL.Query().Get("$top") + "&$skiptoken=" + strconv.Itoa(end)
		}
		answer(200, out)
	default:
		problem(404, "404.1", "no such route "+r.Method+" "+p)
	}
}

// Live returns the live entities of a dataset.
func (f *Central) Live(dataset string) map[string]*Entity {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*Entity{}
	if d := f.Datasets[dataset]; d != nil {
		for id, e := range d.Entities {
			if !e.Deleted {
				out[id] = e
			}
		}
	}
	return out
}

// Writes counts the requests that wrote (or tried to).
func (f *Central) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

// Do runs fn with the server's state locked, to change it between pushes.
func (f *Central) Do(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}
