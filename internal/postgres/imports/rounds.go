package imports

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

var roundIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// Submission dates are read as dates in East Java (WIB, UTC+7, core.LocalZone):
// a submission at 23:30 local time on the last day of a round belongs to it.

// assignRounds fills stage_round (line -> round) for the staged
// households: the import's round, or each submission's round by its date.
func assignRounds(ctx context.Context, tx pgx.Tx, in SurveyImport, sum *ingest.Summary) error {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE stage_round (line int PRIMARY KEY, round_id text NOT NULL) ON COMMIT DROP`); err != nil {
		return err
	}
	if in.Round != "" {
		if !roundIDPattern.MatchString(in.Round) {
			return risk.Errorf(risk.EINVALID, "round %q: want lower-case letters, digits, - and _, e.g. 2027-followup", in.Round)
		}
		label := in.RoundLabel
		if label == "" {
			label = in.Round
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO survey_round (id, label, starts_on, ends_on)
			SELECT $1, $2, coalesce(min((submitted_at AT TIME ZONE $3)::date), current_date), coalesce(max((submitted_at AT TIME ZONE $3)::date), current_date)
			FROM stage_household
			ON CONFLICT (id) DO UPDATE SET starts_on = least(survey_round.starts_on, excluded.starts_on),
				ends_on = greatest(survey_round.ends_on, excluded.ends_on);
			`, in.Round, label, core.LocalZone)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO stage_round SELECT line, $1 FROM stage_household`, in.Round)
		return err
	}
	// A submission without a date (a hand-made file: the tools always
	// write one) goes to the latest round, or this year's: reported.
	var undated int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM stage_household WHERE submitted_at IS NULL`).Scan(&undated); err != nil {
		return err
	}
	if undated > 0 {
		var r string
		err := tx.QueryRow(ctx, `
			WITH latest AS (SELECT id FROM survey_round ORDER BY starts_on DESC, id DESC LIMIT 1),
			made AS (INSERT INTO survey_round (id, label, starts_on, ends_on)
				SELECT y::text, 'Survey ' || y, make_date(y, 1, 1), make_date(y, 12, 31)
				FROM (SELECT extract(year FROM now() AT TIME ZONE $1)::int AS y) d
				WHERE NOT EXISTS (SELECT 1 FROM latest)
				ON CONFLICT (id) DO NOTHING RETURNING id)
			SELECT coalesce((SELECT id FROM latest), (SELECT id FROM made), extract(year FROM now() AT TIME ZONE $1)::int::text)`, core.LocalZone).Scan(&r)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO stage_round SELECT line, $1 FROM stage_household WHERE submitted_at IS NULL`, r); err != nil {
			return err
		}
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("%s: %d submission(s) have no submission date: placed in round %s (give --round to choose)", in.HouseholdFile, undated, r))
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO survey_round (id, label, starts_on, ends_on)
		SELECT DISTINCT y::text, 'Survey ' || y, make_date(y, 1, 1), make_date(y, 12, 31)
		FROM stage_household s CROSS JOIN LATERAL (SELECT extract(year FROM s.submitted_at AT TIME ZONE $1)::int AS y) d
		WHERE s.submitted_at IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM survey_round r WHERE (s.submitted_at AT TIME ZONE $1)::date BETWEEN r.starts_on AND r.ends_on)
		ON CONFLICT (id) DO UPDATE SET starts_on = least(survey_round.starts_on, excluded.starts_on),
			ends_on = greatest(survey_round.ends_on, excluded.ends_on);
		`, core.LocalZone)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO stage_round
		SELECT DISTINCT ON (s.line) s.line, r.id
		FROM stage_household s JOIN survey_round r ON (s.submitted_at AT TIME ZONE $1)::date BETWEEN r.starts_on AND r.ends_on
		ORDER BY s.line, r.starts_on DESC`, core.LocalZone)
	return err
}

// linkIdentities decides, for every household the import loaded, which
// household of an earlier round it is (docs/methodology.md, "Rounds and
// household identity"): the same programme household id first; else the
// same village, a GPS point within the rule's distance and the same
// children (risk.Identity.MatchChildren). One candidate links; several, or
// one that another household of the round also fits, are ambiguous:
// reported and kept as a new household, never guessed. Children are
// numbered across rounds (person) by the pairing.
func linkIdentities(ctx context.Context, tx pgx.Tx, in SurveyImport, sum *ingest.Summary) error {
	earlier, err := resetIdentities(ctx, tx, sum)
	if err != nil || !earlier { // a first round: every household is new
		return err
	}
	id := in.Identity
	targets, involved, err := identityTargets(ctx, tx, id.MaxDistanceM)
	if err != nil {
		return err
	}
	kids, personOf, err := childAges(ctx, tx, involved)
	if err != nil {
		return err
	}
	decided := map[int64]*risk.IdentityDecision{}
	roundOf := map[int64]string{}
	for hid, t := range targets {
		cands := make([]risk.IdentityCandidate, len(t.cands))
		for i, c := range t.cands {
			cands[i] = risk.IdentityCandidate{Submission: c.e, Identity: c.ident, Card: c.card, Years: c.years, At: c.at, Children: kids[c.e]}
		}
		d := id.Decide(kids[hid], cands)
		decided[hid], roundOf[hid] = &d, t.round
	}
	// One submission per household and round: which of the claimed
	// (round, identity) pairs the rounds already hold from submissions
	// outside this import decides with the claims themselves.
	present, err := claimsPresent(ctx, tx, risk.IdentityClaims(decided, roundOf))
	if err != nil {
		return err
	}
	risk.ResolveIdentityConflicts(decided, roundOf, present)
	return storeIdentities(ctx, tx, in, sum, targets, decided, kids, personOf)
}

// resetIdentities makes every household this import loaded again its own
// identity until it is decided again (new ones were inserted so), counts
// the loaded households by round, and reports whether any earlier round
// holds households to match them to; with none, every household is new.
func resetIdentities(ctx context.Context, tx pgx.Tx, sum *ingest.Summary) (earlier bool, err error) {
	// New households were inserted as their own identity, and every loaded
	// household's children afresh with person = ordinal; a household loaded
	// again is decided again.
	if _, err := tx.Exec(ctx, `
		UPDATE household h SET identity_id = h.id, identity_rule = 'new' FROM upserted u
		WHERE u.id = h.id AND NOT u.inserted AND (h.identity_id, h.identity_rule) IS DISTINCT FROM (h.id, 'new');
		DELETE FROM identity_review r USING upserted u WHERE u.id = r.household_id AND NOT u.inserted`); err != nil {
		return false, err
	}
	sum.Rounds = map[string]int{}
	rows, err := tx.Query(ctx, `SELECT h.round_id, count(*) FROM household h JOIN upserted u USING (id) GROUP BY 1`)
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var r string
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return false, err
		}
		sum.Rounds[r] = n
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	// earlier: does a round before the latest loaded one hold households?
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM survey_round e WHERE e.starts_on < (
		SELECT max(r.starts_on) FROM survey_round r WHERE r.id = ANY ($1::text[])) AND EXISTS (SELECT 1 FROM household h WHERE h.round_id = e.id))`,
		keys(sum.Rounds)).Scan(&earlier); err != nil {
		return false, err
	}
	if !earlier {
		sum.Identity.New = sum.Inserted + sum.Updated
	}
	return earlier, nil
}

// idCandidate is an earlier-round household a loaded one may be: found by
// the same programme card, or in the same village within the distance.
type idCandidate struct {
	e, ident int64
	card     bool
	years    float64
	at       time.Time
}

// idTarget is a loaded household to decide, with its candidates.
type idTarget struct {
	round, uuid string
	line        int
	hid         int64
	hasCard     bool
	cands       []idCandidate
}

// identityTargets reads the loaded households and their candidates:
// earlier-round households with the same card, or in the same village
// within maxDistanceM (a box in degrees first, for the index, then the
// distance on the spheroid). involved holds every household whose
// children the decisions need.
func identityTargets(ctx context.Context, tx pgx.Tx, maxDistanceM float64) (targets map[int64]*idTarget, involved map[int64]bool, err error) {
	targets = map[int64]*idTarget{}
	trows, err := tx.Query(ctx, `
		SELECT h.id, h.round_id, h.survey_uuid, coalesce(s.line, 0), h.programme_id IS NOT NULL
		FROM household h JOIN upserted u USING (id) LEFT JOIN stage_household s ON s.survey_uuid = h.survey_uuid`)
	if err != nil {
		return nil, nil, err
	}
	for trows.Next() {
		t := &idTarget{}
		if err := trows.Scan(&t.hid, &t.round, &t.uuid, &t.line, &t.hasCard); err != nil {
			return nil, nil, err
		}
		targets[t.hid] = t
	}
	if err := trows.Err(); err != nil {
		return nil, nil, err
	}
	crows, err := tx.Query(ctx, `
		WITH t AS (
			SELECT h.id, h.round_id, h.programme_id, h.village_code, h.geom, r.starts_on AS rs,
				coalesce(h.submitted_at, r.starts_on::timestamptz) AS at
			FROM household h JOIN upserted u USING (id) JOIN survey_round r ON r.id = h.round_id),
		c AS (
			SELECT t.id AS t, e.id AS e, true AS card FROM t
			JOIN household e ON e.programme_id = t.programme_id AND e.round_id <> t.round_id
			UNION
			SELECT t.id, e.id, false FROM t
			JOIN household e ON e.village_code = t.village_code AND e.round_id <> t.round_id
				AND e.geom && ST_Expand(t.geom, $1::float8 / 100000.0)
				AND ST_DWithin(e.geom::geography, t.geom::geography, $1)
				AND (t.programme_id IS NULL OR e.programme_id IS NULL))
		SELECT c.t, c.e, e.identity_id, bool_or(c.card),
			extract(epoch FROM t.at - coalesce(e.submitted_at, re.starts_on::timestamptz)) / 31557600.0,
			coalesce(e.submitted_at, re.starts_on::timestamptz)
		FROM c JOIN t ON t.id = c.t JOIN household e ON e.id = c.e JOIN survey_round re ON re.id = e.round_id
		WHERE re.starts_on < t.rs
		GROUP BY c.t, c.e, e.identity_id, t.at, e.submitted_at, re.starts_on`, maxDistanceM)
	if err != nil {
		return nil, nil, err
	}
	involved = map[int64]bool{}
	for crows.Next() {
		var t int64
		var c idCandidate
		if err := crows.Scan(&t, &c.e, &c.ident, &c.card, &c.years, &c.at); err != nil {
			return nil, nil, err
		}
		targets[t].cands = append(targets[t].cands, c)
		involved[t], involved[c.e] = true, true
	}
	if err := crows.Err(); err != nil {
		return nil, nil, err
	}
	return targets, involved, nil
}

// claimsPresent reports which claimed (round, identity) pairs their rounds
// already hold from submissions outside this import.
func claimsPresent(ctx context.Context, tx pgx.Tx, claimed []risk.RoundIdentity) (map[risk.RoundIdentity]bool, error) {
	claimRounds, claimIdents := make([]string, len(claimed)), make([]int64, len(claimed))
	for i, c := range claimed {
		claimRounds[i], claimIdents[i] = c.Round, c.Identity
	}
	present := map[risk.RoundIdentity]bool{}
	prows, err := tx.Query(ctx, `SELECT DISTINCT h.round_id, h.identity_id FROM household h
		JOIN unnest($1::text[], $2::bigint[]) AS c(round, ident) ON h.round_id = c.round AND h.identity_id = c.ident
		WHERE NOT EXISTS (SELECT 1 FROM upserted u WHERE u.id = h.id)`, claimRounds, claimIdents)
	if err != nil {
		return nil, err
	}
	for prows.Next() {
		var k risk.RoundIdentity
		if err := prows.Scan(&k.Round, &k.Identity); err != nil {
			return nil, err
		}
		present[k] = true
	}
	if err := prows.Err(); err != nil {
		return nil, err
	}
	return present, nil
}

// storeIdentities writes the decisions: each household's identity and
// rule, its children's person numbers (the paired ones keep the earlier
// person's, the others get new ones), and a review row and a note for
// each ambiguous one; and counts them in the summary.
func storeIdentities(ctx context.Context, tx pgx.Tx, in SurveyImport, sum *ingest.Summary, targets map[int64]*idTarget,
	decided map[int64]*risk.IdentityDecision, kids map[int64][]risk.ChildAge, personOf map[int64]map[int]int) error {
	id := in.Identity
	var (
		hids, idents      []int64
		rules             []string
		chH               []int64
		chOrd, chPerson   []int32
		revH              []int64
		revCands, reasons []string
	)
	for hid, d := range decided {
		switch d.Rule {
		case risk.IdentityByCard:
			sum.Identity.ProgrammeID++
		case risk.IdentityByPlace:
			sum.Identity.PlaceAndChildren++
		case risk.IdentityAmbiguous:
			sum.Identity.Ambiguous++
		}
		if d.Rule == risk.IdentityAmbiguous {
			t := targets[hid]
			b, _ := json.Marshal(d.Candidates)
			reason := fmt.Sprintf("fits %d earlier households (ids %s) by village, GPS point within %.0f m and children: kept as a new household; a programme household id on the form would decide", len(d.Candidates), strings.Trim(string(b), "[]"), id.MaxDistanceM)
			revH, revCands, reasons = append(revH, hid), append(revCands, "{"+strings.Trim(string(b), "[]")+"}"), append(reasons, reason)
			sum.Notes = append(sum.Notes, ingest.Problem{File: in.HouseholdFile, Row: t.line, Column: "programme_id", Code: t.uuid, Reason: reason})
			hids, idents, rules = append(hids, hid), append(idents, hid), append(rules, "ambiguous")
			continue
		}
		if d.Identity == 0 {
			continue
		}
		hids, idents, rules = append(hids, hid), append(idents, d.Identity), append(rules, d.Rule)
		// Children: the paired ones keep the earlier person number, the
		// others (born since, or not paired) get new ones.
		persons := personOf[d.From]
		next := 0
		for _, p := range persons {
			next = max(next, p)
		}
		paired := map[int]bool{}
		for eo, lo := range d.Pair {
			if lo > 0 {
				chH, chOrd, chPerson = append(chH, hid), append(chOrd, int32(lo)), append(chPerson, int32(persons[eo]))
				paired[lo] = true
			}
		}
		for _, c := range kids[hid] {
			if !paired[c.Ordinal] {
				next++
				chH, chOrd, chPerson = append(chH, hid), append(chOrd, int32(c.Ordinal)), append(chPerson, int32(next))
			}
		}
	}
	sum.Identity.New = sum.Inserted + sum.Updated - sum.Identity.ProgrammeID - sum.Identity.PlaceAndChildren - sum.Identity.Ambiguous
	if _, err := tx.Exec(ctx, `UPDATE household h SET identity_id = u.ident, identity_rule = u.rule
		FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(id, ident, rule) WHERE h.id = u.id`, hids, idents, rules); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE child c SET person = u.person
		FROM unnest($1::bigint[], $2::int[], $3::int[]) AS u(hid, ord, person) WHERE c.household_id = u.hid AND c.ordinal = u.ord`,
		chH, chOrd, chPerson); err != nil {
		return err
	}
	for i := range revH { // few: one statement each
		if _, err := tx.Exec(ctx, `INSERT INTO identity_review (household_id, candidates, reason) VALUES ($1, $2::bigint[], $3)`,
			revH[i], revCands[i], reasons[i]); err != nil {
			return err
		}
	}
	return nil
}

// childAges reads the children of the given households (ordinal, sex,
// age) and their person numbers.
func childAges(ctx context.Context, tx pgx.Tx, ids map[int64]bool) (map[int64][]risk.ChildAge, map[int64]map[int]int, error) {
	list := make([]int64, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	rows, err := tx.Query(ctx, `SELECT household_id, ordinal, sex, age, coalesce(person, ordinal) FROM child WHERE household_id = ANY ($1) ORDER BY 1, 2`, list)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out, persons := map[int64][]risk.ChildAge{}, map[int64]map[int]int{}
	for rows.Next() {
		var h int64
		var c risk.ChildAge
		var person int
		if err := rows.Scan(&h, &c.Ordinal, &c.Sex, &c.Age, &person); err != nil {
			return nil, nil, err
		}
		out[h] = append(out[h], c)
		if persons[h] == nil {
			persons[h] = map[int]int{}
		}
		persons[h][c.Ordinal] = person
	}
	return out, persons, rows.Err()
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
