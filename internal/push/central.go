package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kesempatan/riskmap/internal/risk"
)

// Central identifies an ODK Central project and the dataset (entity list)
// the work list goes to.
type Central struct {
	Server   string // e.g. https://central.example.org
	Project  int
	Dataset  string // default "cases"
	Email    string
	Password string
}

// centralEntity is one entity of the OData feed.
type centralEntity struct {
	label   string
	version int
	data    map[string]string
}

type centralSession struct {
	c     *Client
	base  string // .../v1/projects/N/datasets/NAME
	token string
}

func (s *centralSession) do(ctx context.Context, method, u string, body any) (int, []byte, error) {
	h := http.Header{"Authorization": {"Bearer " + s.token}, "Accept": {"application/json"}}
	var b []byte
	if body != nil {
		b = jsonBody(body)
		h.Set("Content-Type", "application/json")
	}
	status, out, err := s.c.request(ctx, method, u, h, b)
	if err == nil && status == http.StatusUnauthorized {
		return status, out, risk.Errorf(risk.EINVALID, "ODK Central refused the session (HTTP 401 at %s): log in again; check the user's role on the project", redact(u))
	}
	if err == nil && status == http.StatusForbidden {
		return status, out, risk.Errorf(risk.EINVALID, "ODK Central forbids this (HTTP 403 at %s): the user needs the Project Manager role to manage entities", redact(u))
	}
	return status, out, err
}

// PushCentral makes the dataset's entities of the areas equal to want:
// it creates the dataset and its properties when missing, creates the
// entities that are not there (in bulk), updates those that differ (with
// the entity's base version), and deletes the entities of the areas that are
// no longer wanted (a case that closed). Entities of other areas, pushed by
// other staff, are left alone.
func (c *Client) PushCentral(ctx context.Context, o Central, areas []string, want []Entity) (Stats, error) {
	var st Stats
	if o.Dataset == "" {
		o.Dataset = "cases"
	}
	if len(areas) == 0 {
		return st, risk.Errorf(risk.EINVALID, "a push needs an area")
	}
	server := strings.TrimRight(o.Server, "/")
	status, body, err := c.request(ctx, http.MethodPost, server+"/v1/sessions",
		http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		jsonBody(map[string]string{"email": o.Email, "password": o.Password}))
	if err != nil {
		return st, err
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return st, risk.Errorf(risk.EINVALID, "ODK Central refused the login of %s (HTTP %d): check --user and the password file", o.Email, status)
	}
	var sess struct {
		Token string `json:"token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &sess) != nil || sess.Token == "" {
		return st, fmt.Errorf("ODK Central login: HTTP %d: %s", status, snippet(body))
	}
	project := server + "/v1/projects/" + strconv.Itoa(o.Project)
	s := &centralSession{c: c, base: project + "/datasets/" + url.PathEscape(o.Dataset), token: sess.Token}
	if err := s.ensureDataset(ctx, project, o.Dataset); err != nil {
		return st, err
	}
	have, err := s.entities(ctx)
	if err != nil {
		return st, err
	}
	wanted := map[string]bool{}
	var create []Entity
	for _, e := range want {
		wanted[e.UUID] = true
		st.Listed++
		cur, ok := have[e.UUID]
		if !ok {
			create = append(create, e)
			continue
		}
		keep := phoneIsNewer(cur.data, e.Data)
		if keep {
			st.Kept++
		}
		if !differs(cur.label, cur.data, e, keep) {
			st.Unchanged++
			continue
		}
		if err := s.update(ctx, e, cur, keep); err != nil {
			return st, err
		}
		st.Updated++
		st.Writes++
	}
	for i := 0; i < len(create); i += c.Chunk {
		chunk := create[i:min(i+c.Chunk, len(create))]
		n, w, err := s.create(ctx, chunk)
		st.Created += n
		st.Writes += w
		if err != nil {
			return st, err
		}
	}
	for id, cur := range have {
		if wanted[id] || !InArea(cur.data["village_code"], areas) {
			continue
		}
		status, body, err := s.do(ctx, http.MethodDelete, s.base+"/entities/"+url.PathEscape(id), nil)
		if err != nil {
			return st, err
		}
		if status != http.StatusOK && status != http.StatusNotFound {
			return st, fmt.Errorf("ODK Central: deleting entity %s: HTTP %d: %s", id, status, snippet(body))
		}
		st.Deleted++
		st.Writes++
	}
	return st, nil
}

// ensureDataset creates the dataset and the properties it lacks.
func (s *centralSession) ensureDataset(ctx context.Context, project, name string) error {
	status, body, err := s.do(ctx, http.MethodGet, s.base, nil)
	if err != nil {
		return err
	}
	if status == http.StatusNotFound {
		status, body, err = s.do(ctx, http.MethodPost, project+"/datasets", map[string]string{"name": name})
		if err != nil {
			return err
		}
		if status != http.StatusOK && status != http.StatusConflict {
			return fmt.Errorf("ODK Central: creating dataset %s: HTTP %d: %s", name, status, snippet(body))
		}
		status, body, err = s.do(ctx, http.MethodGet, s.base, nil)
		if err != nil {
			return err
		}
	}
	if status != http.StatusOK {
		return fmt.Errorf("ODK Central: reading dataset %s: HTTP %d: %s", name, status, snippet(body))
	}
	var ds struct {
		Properties []struct {
			Name string `json:"name"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &ds); err != nil {
		return fmt.Errorf("ODK Central: dataset %s: the answer is not the JSON the API documents: %v", name, err)
	}
	has := map[string]bool{}
	for _, p := range ds.Properties {
		has[p.Name] = true
	}
	for _, p := range Properties {
		if has[p] {
			continue
		}
		status, body, err := s.do(ctx, http.MethodPost, s.base+"/properties", map[string]string{"name": p})
		if err != nil {
			return err
		}
		if status != http.StatusOK && status != http.StatusConflict {
			return fmt.Errorf("ODK Central: adding property %s to dataset %s: HTTP %d: %s", p, name, status, snippet(body))
		}
	}
	return nil
}

// entities reads every entity of the dataset from the OData feed, page by
// page (@odata.nextLink).
func (s *centralSession) entities(ctx context.Context) (map[string]centralEntity, error) {
	out := map[string]centralEntity{}
	next := s.base + ".svc/Entities?$top=1000"
	for pages := 0; next != ""; pages++ {
		if pages > 100000 {
			return nil, fmt.Errorf("ODK Central: the entity feed does not end")
		}
		status, body, err := s.do(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("ODK Central: reading entities: HTTP %d: %s", status, snippet(body))
		}
		var page struct {
			Value []map[string]any `json:"value"`
			Next  string           `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("ODK Central: the entity feed is not the JSON the API documents: %v", err)
		}
		for _, v := range page.Value {
			id, _ := v["__id"].(string)
			id = strings.TrimPrefix(id, "uuid:")
			e := centralEntity{data: map[string]string{}}
			e.label, _ = v["label"].(string)
			if sys, ok := v["__system"].(map[string]any); ok {
				if f, ok := sys["version"].(float64); ok {
					e.version = int(f)
				}
			}
			for _, p := range Properties {
				switch x := v[p].(type) {
				case string:
					e.data[p] = x
				case float64:
					e.data[p] = strconv.FormatFloat(x, 'f', -1, 64)
				}
			}
			out[id] = e
		}
		next = page.Next
	}
	return out, nil
}

// create creates entities in one bulk request; on a conflict (an id the
// server already holds, live or deleted: a push cut after the server wrote
// and before it answered, or a case that opened again) it creates them one
// at a time, restoring or updating the ones that exist.
func (s *centralSession) create(ctx context.Context, es []Entity) (created, writes int, err error) {
	items := make([]map[string]any, len(es))
	for i, e := range es {
		items[i] = map[string]any{"uuid": e.UUID, "label": e.Label, "data": e.Data}
	}
	status, body, err := s.do(ctx, http.MethodPost, s.base+"/entities",
		map[string]any{"entities": items, "source": map[string]any{"name": "riskmap cases push"}})
	if err != nil {
		return 0, 0, err
	}
	writes++
	if status == http.StatusOK {
		return len(es), writes, nil
	}
	if status != http.StatusConflict {
		return 0, writes, fmt.Errorf("ODK Central: creating %d entities: HTTP %d: %s", len(es), status, snippet(body))
	}
	for _, e := range es {
		status, body, err := s.do(ctx, http.MethodPost, s.base+"/entities", map[string]any{"uuid": e.UUID, "label": e.Label, "data": e.Data})
		if err != nil {
			return created, writes, err
		}
		writes++
		switch status {
		case http.StatusOK:
			created++
			continue
		case http.StatusConflict:
		default:
			return created, writes, fmt.Errorf("ODK Central: creating entity %s: HTTP %d: %s", e.UUID, status, snippet(body))
		}
		// The id exists: deleted (restore it) or live (update it; the
		// restore then answers 404, which changes nothing).
		_, _, err = s.do(ctx, http.MethodPost, s.base+"/entities/"+url.PathEscape(e.UUID)+"/restore", nil)
		if err != nil {
			return created, writes, err
		}
		writes++
		status, body, err = s.do(ctx, http.MethodPatch, s.base+"/entities/"+url.PathEscape(e.UUID)+"?force=true",
			map[string]any{"label": e.Label, "data": e.Data})
		if err != nil {
			return created, writes, err
		}
		writes++
		if status != http.StatusOK {
			return created, writes, fmt.Errorf("ODK Central: entity %s exists and cannot be updated: HTTP %d: %s", e.UUID, status, snippet(body))
		}
		created++
	}
	return created, writes, nil
}

// update writes an entity's label and properties against the version read;
// if a phone changed it meanwhile (409), it reads the entity again and
// retries once on the new version.
func (s *centralSession) update(ctx context.Context, e Entity, cur centralEntity, keepVisit bool) error {
	for attempt := 0; ; attempt++ {
		data := map[string]string{}
		for _, p := range Properties {
			if keepVisit && slices.Contains(visitFields, p) {
				continue
			}
			data[p] = e.Data[p]
		}
		u := s.base + "/entities/" + url.PathEscape(e.UUID) + "?baseVersion=" + strconv.Itoa(cur.version)
		status, body, err := s.do(ctx, http.MethodPatch, u, map[string]any{"label": e.Label, "data": data})
		if err != nil {
			return err
		}
		if status == http.StatusOK {
			return nil
		}
		if status != http.StatusConflict || attempt > 0 {
			return fmt.Errorf("ODK Central: updating entity %s: HTTP %d: %s", e.UUID, status, snippet(body))
		}
		status, body, err = s.do(ctx, http.MethodGet, s.base+"/entities/"+url.PathEscape(e.UUID), nil)
		if err != nil {
			return err
		}
		var fresh struct {
			CurrentVersion struct {
				Version int               `json:"version"`
				Data    map[string]string `json:"data"`
			} `json:"currentVersion"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &fresh) != nil {
			return fmt.Errorf("ODK Central: re-reading entity %s: HTTP %d: %s", e.UUID, status, snippet(body))
		}
		cur.version = fresh.CurrentVersion.Version
		keepVisit = phoneIsNewer(fresh.CurrentVersion.Data, e.Data)
	}
}
