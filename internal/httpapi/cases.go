package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// handleCases serves GET /cases?status=&due_before=&area=&open=&limit= to
// staff (their areas) and admins: the work list of CLMRS cases, the most
// overdue first. Audited; to anyone else the route does not exist.
func (s *Server) handleCases() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principal(r) // staff and admins, area in their areas: the route's guard checked
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		v := r.URL.Query()
		q := postgres.CaseQuery{Limit: intQuery(v, "limit", 1000), Today: time.Now(), Open: v.Get("open") == "true", Areas: p.Scope()}
		if st := v.Get("status"); st != "" {
			for _, x := range strings.Split(st, ",") {
				x = strings.TrimSpace(x)
				if !risk.IsChoice(risk.CaseStatuses, x) {
					return badParam("status", "%q is not one of %s", x, strings.Join(risk.CaseStatuses, ", "))
				}
				q.Status = append(q.Status, x)
			}
		}
		if d := v.Get("due_before"); d != "" {
			q.DueBefore, _ = time.Parse(time.DateOnly, d) // checked by the guard
		}
		if a := v.Get("area"); a != "" {
			q.Areas = []string{a}
		}
		cs, err := s.db.Cases(r.Context(), q)
		if err != nil {
			return err
		}
		if err := s.audit(r, len(cs)); err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "private, no-store")
		if format == "csv" {
			rows := make([][]string, 0, len(cs))
			date := func(t *time.Time) string {
				if t == nil {
					return ""
				}
				return t.Format(time.DateOnly)
			}
			for _, c := range cs {
				card := ""
				if c.ProgrammeID != nil {
					card = *c.ProgrammeID
				}
				rows = append(rows, []string{strconv.FormatInt(c.ID, 10), c.Status, date(c.NextDue), strconv.FormatBool(c.Overdue),
					c.VillageCode, c.Village, card, c.SurveyUUID, strconv.Itoa(c.Ordinal), strconv.Itoa(c.Age), c.Sex,
					c.Classification, c.Reason, c.OpenedOn.Format(time.DateOnly), strconv.Itoa(c.Visits), date(c.LastVisit)})
			}
			writeCSV(w, "cases", []string{"case_id", "status", "next_due", "overdue", "village_code", "village", "programme_id",
				"household", "child_ordinal", "child_age", "child_sex", "classification", "reason", "opened_on", "visits", "last_visit"}, rows)
			return nil
		}
		s.respond(w, r, format, typeJSON, "Cases", map[string]any{"cases": cs, "count": len(cs)})
		return nil
	}
}

// caseInScope parses {id} and checks the case lies in the principal's
// areas. A case outside them is answered as one that does not exist.
func (s *Server) caseInScope(r *http.Request, p risk.Principal) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id < 1 {
		return 0, badParam("id", "%q is not a case number", chi.URLParam(r, "id"))
	}
	village, err := s.db.CaseVillage(r.Context(), id)
	if err == nil && !p.Covers(village) {
		err = risk.Errorf(risk.ENOTFOUND, "no case %d in your areas", id)
	}
	if risk.ErrorCode(err) == risk.ENOTFOUND {
		return 0, errStatus(http.StatusNotFound, "no such case", fmt.Sprintf("no case %d in your areas", id), "id")
	}
	return id, err
}

// handleCase serves GET /cases/{id}: one case and its visits (audited).
func (s *Server) handleCase() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principal(r) // staff and admins: the route's guard let no one else in
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		id, err := s.caseInScope(r, p)
		if err != nil {
			return err
		}
		cs, err := s.db.Cases(r.Context(), postgres.CaseQuery{ID: id, Today: time.Now()})
		if err != nil || len(cs) != 1 {
			return errors.Join(err, risk.Errorf(risk.ENOTFOUND, "no case %d", id))
		}
		visits, err := s.db.CaseVisits(r.Context(), id)
		if err != nil {
			return err
		}
		if err := s.audit(r, 1); err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "private, no-store")
		s.respond(w, r, format, typeJSON, fmt.Sprintf("Case %d", id), map[string]any{"case": cs[0], "visits": visits})
		return nil
	}
}

// visitBody is the JSON a visit is posted as: the visit form's questions.
type visitBody struct {
	VisitedOn    string   `json:"visited_on"`
	Kind         string   `json:"kind"`
	Outcome      string   `json:"outcome"`
	ChildWorking *bool    `json:"child_working"`
	InSchool     *bool    `json:"in_school"`
	Actions      []string `json:"actions"`
	ActionStatus string   `json:"action_status"`
}

// handleAddVisit serves POST /cases/{id}/visits for staff in the case's
// areas (and admins): a visit validated as the visit form's rows are,
// recorded once per Idempotency-Key, audited, and the case's status
// recomputed. 201 with the case as it now stands; 200 for a replay.
func (s *Server) handleAddVisit() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principal(r) // staff and admins: the route's guard let no one else in
		id, err := s.caseInScope(r, p)
		if err != nil {
			return err
		}
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
			return errStatus(http.StatusUnsupportedMediaType, "unsupported media type", "send the visit as application/json", "")
		}
		var b visitBody
		dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			return badParam("body", "not a visit: %v (fields: visited_on, kind, outcome, child_working, in_school, actions, action_status; no free text)", err)
		}
		on, err := time.Parse(time.DateOnly, b.VisitedOn)
		if err != nil {
			return badParam("visited_on", "%q is not a date (YYYY-MM-DD)", b.VisitedOn)
		}
		m, err := s.db.CurrentModel(r.Context())
		if err != nil {
			return err
		}
		v := risk.Visit{CaseID: id, VisitedOn: on, Kind: b.Kind, Outcome: b.Outcome, ChildWorking: b.ChildWorking, InSchool: b.InSchool,
			Actions: b.Actions, ActionStatus: b.ActionStatus}
		res, err := s.db.AddVisit(r.Context(), p, m.Cases, v, r.Header.Get("Idempotency-Key"), time.Now())
		if err != nil {
			if risk.ErrorCode(err) == risk.EINVALID {
				field, reason, _ := strings.Cut(risk.ErrorMessage(err), ": ")
				return badParam(field, "%s", reason)
			}
			return err
		}
		// AddVisit wrote the audit entry in the visit's transaction (a
		// replay answers with what that entry already records).
		auditedInTransaction(r)
		w.Header().Set("Cache-Control", "private, no-store")
		w.Header().Set("Content-Type", typeJSON)
		status := http.StatusCreated
		if res.Replayed {
			status = http.StatusOK
		} else {
			w.Header().Set("Location", fmt.Sprintf("%s/cases/%d", s.base, id))
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(res)
		return nil
	}
}

// handlePipeline serves GET /pipeline/{level}: children with a CLMRS case
// by status in each area of the level, published under the rule every
// public figure follows (risk.PublishTable): areas with too few cases
// withheld whole, counts rounded, more withheld until none can be narrowed.
func (s *Server) handlePipeline() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		level := chi.URLParam(r, "level")
		if level != "kecamatan" && level != "kabupaten" {
			return badParam("level", "%q: want kecamatan or kabupaten (a village holds too few cases to publish them release after release)", level)
		}
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		m, err := s.db.CurrentModel(r.Context())
		if err != nil {
			return err
		}
		all, err := s.db.Pipeline(r.Context())
		if err != nil {
			return err
		}
		var out []postgres.PipelineArea
		parent := r.URL.Query().Get("parent")
		for _, a := range all {
			if a.Level == level && (parent == "" || strings.HasPrefix(a.Code, parent+".")) {
				out = append(out, a)
			}
		}
		measures := append(append([]string{}, risk.PipelineMeasures...), risk.PipelineTotal)
		if format == "csv" {
			rows := make([][]string, 0, len(out))
			for _, a := range out {
				row := []string{a.Code, a.Name, a.Status}
				for _, ms := range measures {
					if v := a.Counts[ms]; v != nil {
						row = append(row, strconv.Itoa(*v))
					} else {
						row = append(row, "")
					}
				}
				rows = append(rows, row)
			}
			writeCSV(w, "pipeline-"+level, append([]string{"code", "name", "status"}, measures...), rows)
			return nil
		}
		s.respond(w, r, format, typeJSON, "Case pipeline: "+level, map[string]any{
			"level": level, "areas": out,
			"note": fmt.Sprintf("children with a case by status as of the release served; a kecamatan's counts change only when at least %d of its cases changed since; counts rounded to %d, an area with fewer than %d cases withheld whole, and further counts withheld where the others would give them away (blank)",
				m.Publication.ChangeMinChildren, m.Publication.RoundingBase, m.Publication.MinChildren)})
		return nil
	}
}

// handleRounds serves GET /rounds: the survey rounds, their dates and
// rounded sizes, the design effect their changes use, and the one the map
// shows.
func (s *Server) handleRounds() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		m, err := s.db.CurrentModel(r.Context())
		if err != nil {
			return err
		}
		rs, err := s.db.Rounds(r.Context(), m.Publication.RoundingBase)
		if err != nil {
			return err
		}
		s.respond(w, r, format, typeJSON, "Survey rounds", map[string]any{"rounds": rs,
			"links": []link{{s.base + "/collections/village_rounds/items", "related", typeGeoJSON, "villages by round, with the change since the previous round"}}})
		return nil
	}
}
