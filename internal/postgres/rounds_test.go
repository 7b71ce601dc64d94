package postgres_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/demo"
	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// TestFollowUpCycle loads two generated rounds over the real villages, as
// make run does, with a twist: every third follow-up household that kept
// its programme card has the card number removed, so that the
// place-and-children rule must find it, and the removed number tells the
// test which baseline household it truly is. Then it checks identity
// matching (precision and recall), cases opened and closed by the rule
// (checked in SQL, apart from the Go rule), follow-ups due, and the
// change between rounds published under the rule (audited again).
func TestFollowUpCycle(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	today := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	truth := map[string]string{} // follow-up survey uuid -> its baseline card
	dbtest.LoadRealRounds(t, db, 12000, 11, today, func(dir string) {
		path := filepath.Join(dir, demo.FollowUpHouseholdsFile)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		card, uuid := slices.Index(rows[0], "household/programme_id"), slices.Index(rows[0], "_uuid")
		for i, r := range rows[1:] {
			if r[card] != "" && r[card] < "KSP-900000" && i%3 == 0 {
				truth[r[uuid]] = r[card]
				r[card] = ""
			}
		}
		out, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := csv.NewWriter(out)
		w.WriteAll(rows)
		out.Close()
	})

	// Identity: the stripped households against their true baseline card.
	rows, err := db.Pool.Query(ctx, `SELECT f.survey_uuid, f.identity_rule, b.programme_id
		FROM household f LEFT JOIN household b ON b.id = f.identity_id AND b.id <> f.id
		WHERE f.survey_uuid = ANY ($1)`, keysOf(truth))
	if err != nil {
		t.Fatal(err)
	}
	var correct, wrong, missed, ambiguous int
	for rows.Next() {
		var uuid, rule string
		var card *string
		if err := rows.Scan(&uuid, &rule, &card); err != nil {
			t.Fatal(err)
		}
		switch {
		case card != nil && *card == truth[uuid]:
			correct++
		case card != nil:
			wrong++
			t.Logf("%s matched to %s, truly %s", uuid, *card, truth[uuid])
		case rule == "ambiguous":
			ambiguous++
		default:
			missed++
		}
	}
	rows.Close()
	precision := float64(correct) / float64(max(correct+wrong, 1))
	recall := float64(correct) / float64(len(truth))
	t.Logf("place-and-children rule on %d households without their card: %d right, %d wrong, %d ambiguous (reported), %d missed: precision %.4f, recall %.4f",
		len(truth), correct, wrong, ambiguous, missed, precision, recall)
	if len(truth) < 1000 || precision < 0.995 || recall < 0.95 {
		t.Errorf("identity matching: precision %.4f (want >= 0.995), recall %.4f (want >= 0.95) on %d households", precision, recall, len(truth))
	}
	var cardWrong, reviews, ambiguousRows int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM household f JOIN household b ON b.id = f.identity_id
		WHERE f.identity_rule = 'programme_id' AND b.programme_id IS DISTINCT FROM f.programme_id`).Scan(&cardWrong)
	db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM identity_review), (SELECT count(*) FROM household WHERE identity_rule = 'ambiguous')`).Scan(&reviews, &ambiguousRows)
	if cardWrong != 0 || reviews != ambiguousRows {
		t.Errorf("%d card matches to another card; %d ambiguous households but %d review rows", cardWrong, ambiguousRows, reviews)
	}

	// Cases: one per child ever found in hazardous work or child labour.
	var cases, children int
	db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM child_case), (SELECT count(DISTINCT (h.identity_id, c.person))
		FROM child_class k JOIN child c USING (household_id, ordinal) JOIN household h ON h.id = k.household_id
		WHERE k.classification IN ('hazardous', 'child_labour'))`).Scan(&cases, &children)
	if cases == 0 || cases != children {
		t.Fatalf("%d cases for %d children found in child labour", cases, children)
	}
	// Closed by the rule, checked in SQL: the last two checks (a later
	// survey of the child, or a visit that asked) found the child out of
	// child labour; and every case whose last two checks did is closed.
	var badClosed, notClosed int
	if err := db.Pool.QueryRow(ctx, `
		WITH checks AS (
			SELECT k.id, coalesce((h.submitted_at AT TIME ZONE 'Asia/Jakarta')::date, r.starts_on) AS day,
				cc.classification NOT IN ('hazardous', 'child_labour') AS out, 0 AS n
			FROM child_case k JOIN household h ON h.identity_id = k.identity_id AND h.id <> k.household_id
			JOIN survey_round r ON r.id = h.round_id
			JOIN child c ON c.household_id = h.id AND c.person = k.person
			JOIN child_class cc ON cc.household_id = c.household_id AND cc.ordinal = c.ordinal
			WHERE coalesce((h.submitted_at AT TIME ZONE 'Asia/Jakarta')::date, r.starts_on) >= k.opened_on
			UNION ALL
			SELECT case_id, visited_on, NOT child_working, id FROM case_visit WHERE child_working IS NOT NULL),
		ranked AS (SELECT id, out, row_number() OVER (PARTITION BY id ORDER BY day DESC, n DESC) AS k FROM checks),
		last2 AS (SELECT id, bool_and(out) AS out, count(*) AS n FROM ranked WHERE k <= 2 GROUP BY id)
		SELECT count(*) FILTER (WHERE c.status = 'closed' AND NOT coalesce(l.n = 2 AND l.out, false)),
		       count(*) FILTER (WHERE c.status <> 'closed' AND l.n = 2 AND l.out
		                        AND NOT EXISTS (SELECT 1 FROM case_visit v WHERE v.case_id = c.id AND v.outcome IN ('moved', 'not_found') AND v.visited_on > (SELECT max(day) FROM checks x WHERE x.id = c.id)))
		FROM child_case c LEFT JOIN last2 l ON l.id = c.id`).Scan(&badClosed, &notClosed); err != nil {
		t.Fatal(err)
	}
	if badClosed != 0 || notClosed != 0 {
		t.Errorf("%d closed cases without two consecutive checks out of child labour; %d cases with them not closed", badClosed, notClosed)
	}
	byStatus := map[string]int{}
	srows, _ := db.Pool.Query(ctx, `SELECT status, count(*) FROM child_case GROUP BY 1`)
	for srows.Next() {
		var s string
		var n int
		srows.Scan(&s, &n)
		byStatus[s] = n
	}
	srows.Close()
	t.Logf("cases by status: %v", byStatus)
	for _, s := range risk.CaseStatuses {
		if byStatus[s] == 0 {
			t.Errorf("no %s case: the demo should show every stage of the cycle", s)
		}
	}
	var openNoDue, closedDue int
	db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status NOT IN ('closed', 'lost') AND next_due IS NULL),
		count(*) FILTER (WHERE status IN ('closed', 'lost') AND next_due IS NOT NULL) FROM child_case`).Scan(&openNoDue, &closedDue)
	if openNoDue != 0 || closedDue != 0 {
		t.Errorf("%d open cases without a due date, %d closed or lost with one", openNoDue, closedDue)
	}
	due, err := db.Cases(ctx, postgres.CaseQuery{Open: true, DueBefore: today, Areas: []string{"35.13"}, Limit: 100000, Today: today})
	if err != nil {
		t.Fatal(err)
	}
	if len(due) == 0 {
		t.Fatal("no follow-up overdue in Probolinggo")
	}
	for _, c := range due {
		if !c.Overdue || c.NextDue == nil || !c.NextDue.Before(today) || !strings.HasPrefix(c.VillageCode, "35.13.") || !risk.CaseOpen(c.Status) {
			t.Fatalf("case %d in the overdue list: %+v", c.ID, c)
		}
	}
	// Targets leave out households with an open case.
	m, _ := risk.DefaultModel()
	ts, err := db.HouseholdTargets(ctx, 8, nil, 500)
	if err != nil {
		t.Fatal(err)
	}
	var targeted int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM household h JOIN child_case k ON k.identity_id = h.identity_id
		WHERE h.survey_uuid = ANY ($1) AND k.status NOT IN ('closed', 'lost')`, targetIDs(ts)).Scan(&targeted)
	if targeted != 0 || len(ts) == 0 {
		t.Errorf("%d of %d targeted households have an open case", targeted, len(ts))
	}

	// Change between rounds: published from published counts only, audited.
	rule := m.Publication
	for _, round := range []string{"2026-baseline", "2026-followup"} {
		truthAreas := roundTruth(t, db, round)
		pub := map[string]risk.PublishedArea{}
		prow, err := db.Pool.Query(ctx, `SELECT level || ':' || code, status, households, children, hazardous, child_labour FROM round_area WHERE round_id = $1`, round)
		if err != nil {
			t.Fatal(err)
		}
		for prow.Next() {
			var area, status string
			var hh, ch, hz, cl *int
			prow.Scan(&area, &status, &hh, &ch, &hz, &cl)
			pa := risk.PublishedArea{Eligible: status == "published", Values: map[string]*int{"households": hh, "children": ch, "hazardous": hz, "child_labour": cl}}
			for _, v := range pa.Values {
				if v != nil && *v%rule.RoundingBase != 0 {
					t.Errorf("%s %s: %d is not rounded", round, area, *v)
				}
			}
			pub[area] = pa
		}
		prow.Close()
		if len(pub) != len(truthAreas) {
			t.Fatalf("round %s: %d areas published, %d areas", round, len(pub), len(truthAreas))
		}
		findings, err := risk.Audit(truthAreas, pub, rule)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range findings {
			if i < 5 {
				t.Errorf("round %s: %s", round, f)
			}
		}
	}
	var mismatch, significant, changes int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM round_area r JOIN area_public a USING (level, code)
		WHERE r.round_id = '2026-followup' AND (r.children, r.hazardous, r.child_labour, r.households) IS DISTINCT FROM (a.children, a.hazardous, a.child_labour, a.households)`).Scan(&mismatch)
	db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE change_significant), count(change) FROM round_area WHERE round_id = '2026-followup'`).Scan(&significant, &changes)
	if mismatch != 0 {
		t.Errorf("%d areas where the shown round's published counts differ from area_public's", mismatch)
	}
	var leaked int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM round_area WHERE change IS NOT NULL AND (children IS NULL OR hazardous IS NULL OR child_labour IS NULL
		OR previous_round IS NULL)`).Scan(&leaked)
	if leaked != 0 || changes == 0 || significant == 0 {
		t.Errorf("changes: %d published, %d significant, %d from a withheld count", changes, significant, leaked)
	}
	t.Logf("change since the baseline: %d areas with a published change, %d beyond its uncertainty", changes, significant)

	// The panel: the follow-up's children are mostly the baseline's, so
	// the round keeps one overlap and correlation (round-level, taken
	// once), and every change's interval is narrower than independent
	// rounds would make it, never wider.
	var pairs int
	var overlap, corr float64
	if err := db.Pool.QueryRow(ctx, `SELECT pairs, overlap, correlation FROM round_panel WHERE round_id = '2026-followup' AND previous_round = '2026-baseline'`).Scan(&pairs, &overlap, &corr); err != nil {
		t.Fatalf("the follow-up's panel with the baseline: %v", err)
	}
	var sOverlap, sCorr float64
	db.Pool.QueryRow(ctx, `SELECT panel_overlap, panel_correlation FROM round_summary WHERE round_id = '2026-followup'`).Scan(&sOverlap, &sCorr)
	var narrower, wider int
	var meanDeff float64
	db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE change_design_effect < 1), count(*) FILTER (WHERE change_design_effect > 1 OR change_design_effect IS NULL),
		coalesce(avg(change_design_effect), 0) FROM round_area WHERE round_id = '2026-followup' AND change IS NOT NULL`).Scan(&narrower, &wider, &meanDeff)
	t.Logf("panel: %d children in both rounds, overlap %.2f, correlation %.2f; %d changes narrower, mean design effect %.2f", pairs, overlap, corr, narrower, meanDeff)
	if pairs < risk.MinPanelPairs || overlap <= 0 || overlap > 1 || corr <= 0 || sOverlap != overlap || sCorr != corr {
		t.Errorf("panel: %d pairs, overlap %v (summary %v), correlation %v (summary %v)", pairs, overlap, sOverlap, corr, sCorr)
	}
	if narrower == 0 || wider != 0 {
		t.Errorf("%d changes narrower than independent rounds', %d wider or without a design effect", narrower, wider)
	}
	// Taken once: a later run keeps the figures even when the bases grow.
	if _, err := db.Pool.Exec(ctx, `UPDATE round_panel SET correlation = 0.05, taken_at = taken_at - interval '1 day' WHERE round_id = '2026-followup'`); err != nil {
		t.Fatal(err)
	}
	m, err = risk.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Score(ctx, m, 0); err != nil {
		t.Fatal(err)
	}
	db.Pool.QueryRow(ctx, `SELECT panel_correlation FROM round_summary WHERE round_id = '2026-followup'`).Scan(&sCorr)
	if sCorr != 0.05 {
		t.Errorf("a second run took the panel again: correlation %v, want the kept 0.05", sCorr)
	}
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func targetIDs(ts []postgres.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// roundTruth counts a round's true figures per area, apart from the code
// under test: households and children 5-17 by class.
func roundTruth(t *testing.T, db *postgres.DB, round string) []risk.AreaCounts {
	t.Helper()
	// What a round's published counts are the rounding of: each village's
	// release basis (its counts when a batch of changes last refreshed it),
	// summed to kecamatan and kabupaten in SQL apart from the Go code.
	rows, err := db.Pool.Query(context.Background(), `
		WITH v AS (SELECT v.code, v.kecamatan_code AS kec, k.kabupaten_code AS kab FROM village v JOIN kecamatan k ON k.code = v.kecamatan_code),
		leaf AS (SELECT 'desa:' || v.code AS area, 'kecamatan:' || v.kec AS parent, v.kec, v.kab, coalesce(b.households, 0) AS hh,
			coalesce(b.children, 0) AS ch, coalesce(b.hazardous, 0) AS hz, coalesce(b.child_labour, 0) AS cl, coalesce(b.light_work, 0) AS lw
			FROM v LEFT JOIN release_basis b ON b.round_id = $1 AND b.village_code = v.code)
		SELECT area, parent, true, hh, ch, hz, cl, lw FROM leaf
		UNION ALL SELECT 'kecamatan:' || kec, 'kabupaten:' || kab, false, sum(hh), sum(ch), sum(hz), sum(cl), sum(lw) FROM leaf GROUP BY kec, kab
		UNION ALL SELECT 'kabupaten:' || kab, '', false, sum(hh), sum(ch), sum(hz), sum(cl), sum(lw) FROM leaf GROUP BY kab`, round)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []risk.AreaCounts
	for rows.Next() {
		var a risk.AreaCounts
		var hh, ch, hz, cl, lw int
		if err := rows.Scan(&a.Area, &a.Parent, &a.Leaf, &hh, &ch, &hz, &cl, &lw); err != nil {
			t.Fatal(err)
		}
		a.Counts = map[string]int{"households": hh, "children": ch, "hazardous": hz, "child_labour": cl, "light_work": lw,
			"not_working": ch - hz - cl - lw, "labourer_households": 0, "poor_households": 0}
		out = append(out, a)
	}
	return out
}

// TestIdentityAmbiguous surveys a household again as two submissions that
// both fit it (same village, a few metres, the same children a year
// older), and another household once: the two are reported ambiguous and
// kept new, never guessed; the third is matched.
func TestIdentityAmbiguous(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.NewDemo(t)
	ctx := context.Background()
	type hh struct {
		uuid, village string
		lat, lon      float64
		kids          [][2]string // age, sex
	}
	var base []hh
	rows, err := db.Pool.Query(ctx, `SELECT h.survey_uuid, h.village_code, ST_Y(h.geom), ST_X(h.geom),
		array_agg(c.age::text ORDER BY c.ordinal), array_agg(c.sex ORDER BY c.ordinal)
		FROM household h JOIN child c ON c.household_id = h.id
		WHERE h.programme_id IS NULL GROUP BY h.id HAVING count(*) >= 2 ORDER BY h.survey_uuid LIMIT 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h hh
		var ages, sexes []string
		rows.Scan(&h.uuid, &h.village, &h.lat, &h.lon, &ages, &sexes)
		for i := range ages {
			h.kids = append(h.kids, [2]string{ages[i], sexes[i]})
		}
		base = append(base, h)
	}
	rows.Close()
	if len(base) != 2 {
		t.Fatal("the demo has no households without a card")
	}
	hhHeader := []string{"_index", "_uuid", "_submission_time", "consent", "village", "_gps_latitude", "_gps_longitude", "_gps_precision",
		"livelihood", "poverty_programme", "caregiver_education", "single_parent", "members", "working_adults"}
	chHeader := []string{"_parent_index", "age", "sex", "school_status", "works", "work_hours_week", "work_hours_day", "work_school_hours",
		"tasks", "gts_symptoms", "disability", "special_needs", "orphan"}
	var hhRows, chRows [][]string
	add := func(i int, uuid string, h hh, dlat float64) {
		idx := string(rune('0' + i))
		hhRows = append(hhRows, []string{idx, uuid, "2027-03-10T09:00:00", "yes", h.village, ftoa(h.lat + dlat), ftoa(h.lon), "5",
			"other", "none", "primary", "no", "6", "2"})
		for _, k := range h.kids {
			age := atoi(k[0]) + 1
			if age > 17 {
				continue
			}
			school := "enrolled"
			if age < 6 {
				school = "not_school_age"
			}
			chRows = append(chRows, []string{idx, itoa(age), k[1], school, "no", "", "", "", "", "", "no", "no", "no"})
		}
	}
	add(1, "again-a", base[0], 0.00002)
	add(2, "again-b", base[0], -0.00002)
	add(3, "again-c", base[1], 0.00001)
	sv, err := ingest.NewSurveyFromRows("followup.csv", hhHeader, hhRows, chHeader, chRows)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := db.ImportSurvey(ctx, postgres.SurveyImport{HouseholdFile: "followup.csv", Households: sv.Households, Children: sv.Children, Identity: dbtest.DefaultIdentity(t),
		MaxVillageDistance: 1000, Round: "2027-followup"}, postgres.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Identity.Ambiguous != 2 || sum.Identity.PlaceAndChildren != 1 {
		t.Fatalf("identity %+v, want 2 ambiguous and 1 matched", sum.Identity)
	}
	reported := 0
	for _, n := range sum.Notes {
		if n.Column == "programme_id" && (n.Code == "again-a" || n.Code == "again-b") && strings.Contains(n.Reason, "kept as a new household") {
			reported++
		}
	}
	if reported != 2 {
		t.Errorf("ambiguous matches not reported: %v", sum.Notes)
	}
	var rule string
	var same bool
	db.Pool.QueryRow(ctx, `SELECT f.identity_rule, f.identity_id = b.identity_id FROM household f, household b
		WHERE f.survey_uuid = 'again-c' AND b.survey_uuid = $1`, base[1].uuid).Scan(&rule, &same)
	if rule != "place_and_children" || !same {
		t.Errorf("the unambiguous re-survey: rule %q, same identity %v", rule, same)
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 7, 64) }
func itoa(i int) string     { return strconv.Itoa(i) }
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// A programme card names one household a round: an import that gives a
// card already held by another household of the round, or the same card to
// two rows, is refused with those rows named (the unique index used to fail
// the whole file with a bare SQL error), and loads nothing.
func TestProgrammeIDOneHouseholdARound(t *testing.T) {
	t.Parallel()
	db, _ := dbtest.NewDemo(t)
	ctx := context.Background()
	var card, round, village string
	var lat, lon float64
	var before int
	if err := db.Pool.QueryRow(ctx, `SELECT programme_id, round_id, village_code, ST_Y(geom), ST_X(geom), (SELECT count(*) FROM household)
		FROM household WHERE programme_id IS NOT NULL ORDER BY id LIMIT 1`).Scan(&card, &round, &village, &lat, &lon, &before); err != nil {
		t.Fatal(err)
	}
	hhHeader := []string{"_index", "_uuid", "_submission_time", "consent", "village", "programme_id", "_gps_latitude", "_gps_longitude", "_gps_precision",
		"livelihood", "poverty_programme", "caregiver_education", "single_parent", "members", "working_adults"}
	chHeader := []string{"_parent_index", "age", "sex", "school_status", "works", "work_hours_week", "work_hours_day", "work_school_hours",
		"tasks", "gts_symptoms", "disability", "special_needs", "orphan"}
	row := func(i int, uuid, card string) []string {
		return []string{itoa(i), uuid, "2026-03-10T09:00:00", "yes", village, card, ftoa(lat + float64(i)*0.00001), ftoa(lon), "5",
			"other", "none", "primary", "no", "4", "2"}
	}
	hhRows := [][]string{row(1, "card-taken", card), row(2, "card-twice-a", "KSP-990001"), row(3, "card-twice-b", "KSP-990001"), row(4, "card-fine", "KSP-990002")}
	var chRows [][]string
	for i := 1; i <= 4; i++ {
		chRows = append(chRows, []string{itoa(i), "9", "female", "enrolled", "no", "", "", "", "", "", "no", "no", "no"})
	}
	sv, err := ingest.NewSurveyFromRows("cards.csv", hhHeader, hhRows, chHeader, chRows)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := db.ImportSurvey(ctx, postgres.SurveyImport{HouseholdFile: "cards.csv", Households: sv.Households, Children: sv.Children, Identity: dbtest.DefaultIdentity(t),
		MaxVillageDistance: 1000, Round: round}, postgres.ImportOptions{})
	if err == nil {
		t.Fatal("an import with a card held twice in a round was accepted")
	}
	want := map[string]string{"card-taken": "already household", "card-twice-b": "row 2"}
	households := 0
	for _, p := range sum.Rejected {
		if p.Column == "programme_id" {
			households++
		}
		if w, ok := want[p.Code]; ok && p.File == "cards.csv" && p.Column == "programme_id" && p.Row > 0 && strings.Contains(p.Reason, w) {
			delete(want, p.Code)
		} else if p.Code == "card-twice-a" || p.Code == "card-fine" {
			t.Errorf("row %d (%s) rejected: %s", p.Row, p.Code, p.Reason)
		}
	}
	if len(want) > 0 {
		t.Errorf("not reported: %v; rejected: %v; error: %v", want, sum.Rejected, err)
	}
	if households != 2 {
		t.Errorf("%d households rejected, want the 2 with a card held twice: %v", households, sum.Rejected)
	}
	var after int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM household`).Scan(&after); err != nil || after != before {
		t.Errorf("households %d before, %d after a refused import (%v)", before, after, err)
	}
}
