package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kesempatan/riskmap/internal/postgres"
)

func (s *Server) writeRawJSON(w http.ResponseWriter, r *http.Request, title string, body []byte) error {
	format, err := negotiate(r)
	if err != nil {
		return err
	}
	if format == "html" {
		writePage(w, pageData{Title: title, JSON: string(body)})
		return nil
	}
	// PostgreSQL's json text has spaces around colons; send it compact.
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err != nil {
		return err
	}
	buf.WriteByte('\n')
	w.Header().Set("Content-Type", typeJSON)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// handleAggregates serves /aggregates/{level}?parent=CODE.
func (s *Server) handleAggregates() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		level := chi.URLParam(r, "level")
		if done, err := s.notModified(w, r, r.URL.Query().Get("f")); done || err != nil {
			return err
		}
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		b, err := s.db.Aggregates(r.Context(), level, r.URL.Query().Get("parent"))
		if err != nil {
			return err
		}
		if format == "csv" {
			return jsonRowsToCSV(w, "aggregates-"+level, b, []string{"code", "name", "parent_code", "status", "tier", "score", "households", "children"})
		}
		return s.writeRawJSON(w, r, "Aggregates by "+level, b)
	}
}

func (s *Server) handleVillageProfile() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		code := chi.URLParam(r, "code")
		if done, err := s.notModified(w, r, r.URL.Query().Get("f")); done || err != nil {
			return err
		}
		b, err := s.db.VillageProfile(r.Context(), code)
		if err != nil {
			return err
		}
		return s.writeRawJSON(w, r, "Village "+code, b)
	}
}

// handleVillageTargets serves /targets/villages?month=M&area=CODE&limit=N.
func (s *Server) handleVillageTargets() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query() // checked by the route's guard
		month, limit, top := intQuery(q, "month", 0), intQuery(q, "limit", 20), intQuery(q, "top", 10)
		if done, err := s.notModified(w, r, q.Get("f")); done || err != nil {
			return err
		}
		exact := principal(r).ExactRanking(q.Get("area"))
		ts, notRanked, err := s.db.VillageTargets(r.Context(), month, q.Get("area"), limit, top, exact)
		if err != nil {
			return err
		}
		if ts == nil {
			ts = []postgres.Target{}
		}
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		if format == "csv" {
			b, _ := json.Marshal(ts)
			return jsonRowsToCSV(w, "villages-to-visit-month-"+strconv.Itoa(month), b, []string{"rank", "rank_low", "rank_high", "p_top", "top_certainty", "in_top_set",
				"id", "name", "kecamatan", "tier", "seasonal_score", "score", "score_low", "score_high", "households", "children", "prevalence_smoothed"})
		}
		s.respond(w, r, format, typeJSON, "Villages to visit in month "+strconv.Itoa(month), map[string]any{"month": month, "area": q.Get("area"),
			"basis": map[bool]string{true: "exact", false: "published"}[exact], "rule": map[bool]string{
				true:  "every surveyed village, by its seasonal score in the month from small-area estimates on exact counts (villages with few surveyed households are pulled toward their kecamatan, and flagged); the interval shows how sure it is",
				false: "villages with published figures, by their seasonal score in the month from small-area estimates on published counts (villages with few surveyed households are pulled toward their kecamatan); the interval shows how sure it is",
			}[exact],
			"top": top, "rank_uncertainty": "rank_low-rank_high: a 90% interval of the rank among every ranked village of the area; p_top: the probability of being among the top " + strconv.Itoa(top) +
				" (the p_top of all ranked villages add up to " + strconv.Itoa(top) + "); top_certainty: pasti (0.9 or more), mungkin (0.1-0.9), kecil kemungkinan (under 0.1); in_top_set: among the fewest villages, taken by p_top, that hold every one of the true top " + strconv.Itoa(top) + " together with 90% probability (visit them all to reach the " + strconv.Itoa(top) + " worst). Simulated from each village's published score and interval (docs/methodology.md, \"How sure is a rank\").",
			"targets": ts, "not_ranked": notRanked})
		return nil
	}
}

// handleSurveyPlan serves /targets/survey-plan?month=M&households=N[&top=K][&area=CODE]:
// where to survey N households next so that the ranking's top K becomes as
// certain as it can (risk.PlanSurvey), from the ranking the caller may see
// (published for the public and planners, exact for admins and staff in
// their areas), with what the plan buys against an even spread.
func (s *Server) handleSurveyPlan() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query() // checked by the route's guard
		month, households, top := intQuery(q, "month", 0), intQuery(q, "households", 0), intQuery(q, "top", 10)
		if done, err := s.notModified(w, r, q.Get("f")); done || err != nil {
			return err
		}
		exact := principal(r).ExactRanking(q.Get("area"))
		plan, villages, err := s.db.SurveyPlan(r.Context(), month, q.Get("area"), top, households, exact)
		if err != nil {
			return err
		}
		type item struct {
			Village     string   `json:"village_code"`
			Name        string   `json:"name"`
			Kecamatan   string   `json:"kecamatan,omitempty"`
			Rank        int      `json:"rank"`
			RankLow     *int     `json:"rank_low,omitempty"`
			RankHigh    *int     `json:"rank_high,omitempty"`
			PTop        float64  `json:"p_top"`
			Households  int      `json:"households_now"`
			Add         int      `json:"households_to_add"`
			Uncertainty float64  `json:"uncertainty_now"`
			Expected    float64  `json:"uncertainty_expected"`
			Score       *float64 `json:"seasonal_score,omitempty"`
		}
		items := make([]item, 0, len(plan.Items))
		for _, it := range plan.Items {
			v := villages[it.Code]
			sc := v.Seasonal
			items = append(items, item{Village: it.Code, Name: v.Name, Kecamatan: v.Kecamatan, Rank: v.Rank, RankLow: v.RankLow, RankHigh: v.RankHigh,
				PTop: round3(it.PTop), Households: it.Households, Add: it.Add, Uncertainty: round3(it.Uncertainty), Expected: round3(it.Expected), Score: &sc})
		}
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		s.respond(w, r, format, typeJSON, "Where to survey "+strconv.Itoa(households)+" households next", map[string]any{
			"month": month, "area": q.Get("area"), "top": top, "households": households, "spent": plan.Spent,
			"basis": map[bool]string{true: "exact", false: "published"}[exact],
			"rule": "households go, ten at a time, to the ranked village where they are expected to settle the most top-K membership: " +
				"the sum of p(1-p) over the ranked villages, p a village's probability of being in the top K (docs/methodology.md, \"Where to survey next\")",
			"uncertainty_now": round3(plan.Now), "uncertainty_after_plan": round3(plan.After), "uncertainty_after_even_spread": round3(plan.Uniform),
			"villages": items})
		return nil
	}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// handleHouseholdTargets serves /targets/households?month=M[&area=CODE][&limit=N]
// to staff (within their areas) and admins: households ranked by seasonal
// risk, those with a child in hazardous work or child labour first, leaving
// out those under follow-up. Audited before it is sent; to anyone else the
// route does not exist.
func (s *Server) handleHouseholdTargets() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principal(r) // the route's guard let in staff and admins only, with area in their areas
		q := r.URL.Query()
		month, limit := intQuery(q, "month", 0), intQuery(q, "limit", 50)
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		areas := p.Scope()
		if a := q.Get("area"); a != "" {
			areas = []string{a}
		}
		ts, err := s.db.HouseholdTargets(r.Context(), month, areas, limit)
		if err != nil {
			return err
		}
		if err := s.audit(r, len(ts)); err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "private, no-store")
		s.respond(w, r, format, typeJSON, "Households to visit", map[string]any{"month": month, "targets": ts})
		return nil
	}
}

// handleAudit serves /audit?since=24h to admins: the log of responses that
// held household- or child-level data. To anyone else it does not exist.
func (s *Server) handleAudit() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		since := 24 * time.Hour
		if v := r.URL.Query().Get("since"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > 24*366*time.Hour {
				return badParam("since", "%q is not a duration such as 24h", v)
			}
			since = d
		}
		entries, err := s.db.AuditSince(r.Context(), time.Now().Add(-since))
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "private, no-store")
		s.respond(w, r, "json", typeJSON, "Audit log", map[string]any{"since": since.String(), "entries": entries})
		return nil
	}
}

// handleRun serves /run: the scoring run behind every figure served (when,
// which model, how many households) and whether its survey data is
// synthetic, which the map and reports show.
func (s *Server) handleRun() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if done, err := s.notModified(w, r, "json"); done || err != nil {
			return err
		}
		b, err := s.db.LatestRun(r.Context())
		if err != nil {
			return err
		}
		return s.writeRawJSON(w, r, "Scoring run", b)
	}
}

// handleReleases serves GET /releases: the ledger of publications, the
// newest first (postgres.Release).
func (s *Server) handleReleases() apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		format, err := negotiate(r)
		if err != nil {
			return err
		}
		rs, err := s.db.Releases(r.Context(), intQuery(r.URL.Query(), "limit", 20))
		if err != nil {
			return err
		}
		if rs == nil {
			rs = []postgres.Release{}
		}
		s.respond(w, r, format, typeJSON, "Releases", map[string]any{"releases": rs,
			"note": "every publication is a release; a scoring run that changes nothing published publishes the same release again (runs counts them). A village's figures change only with a batch of changed households (docs/methodology.md, Releases over time)"})
		return nil
	}
}
