package risk

import (
	"crypto/sha1"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cases is the CLMRS cycle's configuration (the model file's "cases"
// section; docs/methodology.md, "Cases"): when a case is due for a visit,
// when it closes or is lost, and the remediation a visit can record.
type Cases struct {
	// FirstVisitDays: a new case is due for its first visit this many days
	// after the survey that found the child.
	FirstVisitDays int `json:"first_visit_days"`
	// FollowUpMonths: an open case is due again this many months after its
	// last visit or survey check (six in the ILO/ICI CLMRS).
	FollowUpMonths int `json:"follow_up_months"`
	// ConsecutiveChecksToClose: a case closes when the child has been out
	// of child labour at this many consecutive follow-up checks.
	ConsecutiveChecksToClose int `json:"consecutive_checks_to_close"`
	// NotFoundToLose: a case is lost after this many consecutive visits
	// that did not find the household (or one that found it had moved).
	NotFoundToLose int `json:"not_found_to_lose"`
	// Remediation is the catalogue of actions a visit may plan or deliver.
	Remediation []Remediation `json:"remediation"`
}

// Remediation is one kind of support in the catalogue.
type Remediation struct {
	Code    string `json:"code"`
	LabelID string `json:"label_id"`
	LabelEN string `json:"label_en"`
}

var codeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,39}$`)

func (c Cases) validate(bad func(string, ...any)) {
	if c.FirstVisitDays < 1 || c.FirstVisitDays > 365 || c.FollowUpMonths < 1 || c.FollowUpMonths > 24 {
		bad("cases: first_visit_days must be 1..365 and follow_up_months 1..24")
	}
	if c.ConsecutiveChecksToClose < 1 || c.NotFoundToLose < 1 {
		bad("cases: consecutive_checks_to_close and not_found_to_lose must be at least 1")
	}
	if len(c.Remediation) == 0 {
		bad("cases.remediation: the catalogue is empty")
	}
	seen := map[string]bool{}
	for _, r := range c.Remediation {
		if !codeRE.MatchString(r.Code) || r.LabelID == "" || r.LabelEN == "" {
			bad("cases.remediation: %q needs a lower-case code and labels in Bahasa Indonesia and English", r.Code)
		}
		if seen[r.Code] {
			bad("cases.remediation: %q twice", r.Code)
		}
		seen[r.Code] = true
	}
}

// RemediationCodes returns the catalogue's codes, in its order.
func (c Cases) RemediationCodes() []string {
	out := make([]string, len(c.Remediation))
	for i, r := range c.Remediation {
		out[i] = r.Code
	}
	return out
}

// Case statuses, in the order a case moves through them.
const (
	CaseIdentified         = "identified"
	CaseRemediationPlanned = "remediation_planned"
	CaseRemediated         = "remediated"
	CaseFollowedUp         = "followed_up"
	CaseClosed             = "closed"
	CaseLost               = "lost"
)

// CaseStatuses lists them all; the open ones are all but closed and lost.
var CaseStatuses = []string{CaseIdentified, CaseRemediationPlanned, CaseRemediated, CaseFollowedUp, CaseClosed, CaseLost}

// CaseOpen reports whether a status is an open case's.
func CaseOpen(status string) bool { return status != CaseClosed && status != CaseLost }

// Visit kinds, outcomes and action states (the visit form's choices).
var (
	VisitKinds     = []string{"remediation", "follow_up"}
	VisitOutcomes  = []string{"met", "not_found", "moved", "refused"}
	ActionStatuses = []string{"planned", "delivered"}
)

// Visit is one visit to a case's household, from the visit form or POST
// /cases/{id}/visits. It holds no names.
type Visit struct {
	CaseID       int64
	SubmissionID string // the form submission's uuid, or the HTTP idempotency key
	VisitedOn    time.Time
	Kind         string   // remediation or follow_up
	Outcome      string   // met, not_found, moved, refused
	ChildWorking *bool    // met: does the child still work in child labour? nil when not asked
	InSchool     *bool    // met: is the child in school?
	Actions      []string // remediation codes
	ActionStatus string   // planned or delivered; "" without actions
	// No free text: a note is where names get written.
}

// Validate checks a visit against the catalogue and the form's rules; the
// message names the field.
func (v Visit) Validate(c Cases, today time.Time) error {
	switch {
	case v.CaseID <= 0:
		return Errorf(EINVALID, "case_id: missing")
	case v.VisitedOn.IsZero():
		return Errorf(EINVALID, "visited_on: missing")
	case v.VisitedOn.After(today.AddDate(0, 0, 1)):
		return Errorf(EINVALID, "visited_on: %s is in the future", v.VisitedOn.Format(time.DateOnly))
	case !IsChoice(VisitKinds, v.Kind):
		return Errorf(EINVALID, "kind: %q is not one of %s", v.Kind, strings.Join(VisitKinds, ", "))
	case !IsChoice(VisitOutcomes, v.Outcome):
		return Errorf(EINVALID, "outcome: %q is not one of %s", v.Outcome, strings.Join(VisitOutcomes, ", "))
	case v.Outcome != "met" && (v.ChildWorking != nil || len(v.Actions) > 0):
		return Errorf(EINVALID, "outcome: %s, yet the visit records the child's work or actions: only a visit that met the household can", v.Outcome)
	case v.Outcome == "met" && v.Kind == "follow_up" && v.ChildWorking == nil:
		return Errorf(EINVALID, "child_working: a follow-up visit that met the household must say whether the child still works")
	case len(v.Actions) > 0 && !IsChoice(ActionStatuses, v.ActionStatus):
		return Errorf(EINVALID, "action_status: %q is not one of %s", v.ActionStatus, strings.Join(ActionStatuses, ", "))
	case len(v.Actions) == 0 && v.ActionStatus != "":
		return Errorf(EINVALID, "action_status: %s, but no action is recorded", v.ActionStatus)
	}
	codes := c.RemediationCodes()
	seen := map[string]bool{}
	for _, a := range v.Actions {
		if !IsChoice(codes, a) {
			return Errorf(EINVALID, "actions: %q is not in the remediation catalogue (%s)", a, strings.Join(codes, ", "))
		}
		if seen[a] {
			return Errorf(EINVALID, "actions: %q twice", a)
		}
		seen[a] = true
	}
	return nil
}

// CaseEvent is one thing that happened to a case, in the order of On: the
// survey observations of the child (the round that opened the case, and any
// later round that found the child again) and the visits.
type CaseEvent struct {
	On time.Time
	// Survey: a round's observation of the child, InLabour its
	// classification (hazardous or child_labour).
	Survey   bool
	InLabour bool
	Visit    *Visit
}

// CaseState is what the events make of a case.
type CaseState struct {
	Status    string
	StatusOn  time.Time // when it took that status
	OpenedOn  time.Time
	LastCheck time.Time // the last follow-up check (a survey or a visit that met the child)
	NextDue   *time.Time
	// OutStreak: consecutive checks, up to the last, that found the child
	// out of child labour.
	OutStreak int
	Checks    int
}

// State folds a case's events into its status (docs/methodology.md,
// "Cases"). The first event is the survey that opened the case. A check is
// a later survey round that found the child, or a visit that met the
// household and asked about the child's work; the case closes when the
// last ConsecutiveChecksToClose checks all found the child out of child
// labour, and a later check that finds the child working reopens it. A
// visit that finds the household moved, or NotFoundToLose consecutive
// visits that do not find it, lose the case; any later contact with the
// child takes it up again. Remediation planned or delivered moves the case
// on; a check after delivered remediation makes it followed up.
func (c Cases) State(events []CaseEvent) CaseState {
	evs := append([]CaseEvent(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].On.Before(evs[j].On) })
	var s CaseState
	if len(evs) == 0 {
		return s
	}
	s.Status, s.OpenedOn, s.StatusOn = CaseIdentified, evs[0].On, evs[0].On
	set := func(status string, on time.Time) {
		if s.Status != status {
			s.Status, s.StatusOn = status, on
		}
	}
	remediation := "" // "", planned, delivered
	notFound := 0
	last := evs[0].On // the last contact that sets the next due date
	contacted := false
	for _, e := range evs[1:] {
		check, out := false, false
		switch {
		case e.Survey:
			check, out = true, !e.InLabour
			notFound = 0
		case e.Visit != nil:
			v := e.Visit
			last, contacted = e.On, true
			switch v.Outcome {
			case "moved":
				set(CaseLost, e.On)
				continue
			case "not_found":
				notFound++
				if notFound >= c.NotFoundToLose {
					set(CaseLost, e.On)
				}
				continue
			case "refused":
				notFound = 0
				continue
			}
			notFound = 0
			if len(v.Actions) > 0 {
				if v.ActionStatus == "delivered" {
					remediation = "delivered"
				} else if remediation == "" {
					remediation = "planned"
				}
			}
			if v.ChildWorking != nil {
				check, out = true, !*v.ChildWorking
			}
		}
		if check {
			s.Checks++
			s.LastCheck = e.On
			last = e.On
			contacted = true
			if out {
				s.OutStreak++
			} else {
				s.OutStreak = 0
			}
		}
		switch {
		case s.OutStreak >= c.ConsecutiveChecksToClose:
			set(CaseClosed, e.On)
		case check && remediation == "delivered":
			set(CaseFollowedUp, e.On)
		case remediation == "delivered":
			set(CaseRemediated, e.On)
		case remediation == "planned":
			set(CaseRemediationPlanned, e.On)
		default:
			set(CaseIdentified, e.On)
		}
	}
	if CaseOpen(s.Status) {
		var due time.Time
		if contacted {
			due = last.AddDate(0, c.FollowUpMonths, 0)
		} else {
			due = s.OpenedOn.AddDate(0, 0, c.FirstVisitDays)
		}
		s.NextDue = &due
	}
	return s
}

// ChildAge is what identity matching knows of a child: no name, only the
// ordinal, sex and age the survey recorded.
type ChildAge struct {
	Ordinal int
	Sex     string
	Age     int
}

// Identity is the rule that recognises a household surveyed again in a
// later round without a programme household id (docs/methodology.md,
// "Rounds and household identity").
type Identity struct {
	// MaxDistanceM: the two GPS points lie within this many metres.
	MaxDistanceM float64 `json:"max_distance_m"`
	// AgeToleranceYears: a child's age may differ from the earlier age
	// plus the years between the surveys by this much (birthdays fall
	// either side of a survey date).
	AgeToleranceYears int `json:"age_tolerance_years"`
}

func (id Identity) validate(bad func(string, ...any)) {
	if id.MaxDistanceM <= 0 || id.MaxDistanceM > 500 || id.AgeToleranceYears < 0 || id.AgeToleranceYears > 2 {
		bad("identity: max_distance_m must be in (0, 500] and age_tolerance_years 0..2")
	}
}

// MatchChildren pairs the children of an earlier submission with those of
// a later one, years apart: every earlier child who would still be under
// 18 must have a partner of the same sex whose age is the earlier age plus
// the years (within the tolerance), and every later child without a
// partner must be younger than the years between (born since). It returns
// the later ordinal of each earlier child (0: aged out or not found) and
// whether the children match; the pairing is returned either way (a
// household matched by its programme id still needs its children
// paired). It keeps age gaps smallest, oldest first.
func (id Identity) MatchChildren(earlier, later []ChildAge, years float64) (map[int]int, bool) {
	tol := float64(id.AgeToleranceYears) + 0.5
	pair := map[int]int{}
	ok := true
	for _, sex := range Sexes {
		// Within a sex, the pairing that keeps every gap within the
		// tolerance, if one exists, keeps the children's order by age: an
		// alignment of the two lists (oldest first), where an earlier
		// child may be left out only if it may have turned 18 and a later
		// child only if it may have been born since. Among alignments, the
		// one with the smallest total gap (dynamic programming).
		var e, l []ChildAge
		for _, c := range earlier {
			if c.Sex == sex {
				e = append(e, c)
			}
		}
		for _, c := range later {
			if c.Sex == sex {
				l = append(l, c)
			}
		}
		sort.SliceStable(e, func(i, j int) bool { return e[i].Age > e[j].Age })
		sort.SliceStable(l, func(i, j int) bool { return l[i].Age > l[j].Age })
		agedOut := func(c ChildAge) bool { return float64(c.Age)+years+tol >= float64(MaxChildAge)+1 }
		bornSince := func(c ChildAge) bool { return float64(c.Age) <= years+tol }
		inf, skip := math.Inf(1), 2*tol
		n, m := len(e), len(l)
		cost := make([][]float64, n+1)
		move := make([][]byte, n+1) // 'm' match, 'e' skip earlier, 'l' skip later
		for i := range cost {
			cost[i] = make([]float64, m+1)
			move[i] = make([]byte, m+1)
			for j := range cost[i] {
				cost[i][j] = inf
			}
		}
		cost[n][m] = 0
		for i := n; i >= 0; i-- {
			for j := m; j >= 0; j-- {
				if i == n && j == m {
					continue
				}
				if i < n && j < m {
					if d := math.Abs(float64(l[j].Age) - (float64(e[i].Age) + years)); d <= tol && d+cost[i+1][j+1] < cost[i][j] {
						cost[i][j], move[i][j] = d+cost[i+1][j+1], 'm'
					}
				}
				// Leaving a child out costs more than any pairing within
				// the tolerance: a child is paired whenever it can be.
				if i < n && agedOut(e[i]) && skip+cost[i+1][j] < cost[i][j] {
					cost[i][j], move[i][j] = skip+cost[i+1][j], 'e'
				}
				if j < m && bornSince(l[j]) && skip+cost[i][j+1] < cost[i][j] {
					cost[i][j], move[i][j] = skip+cost[i][j+1], 'l'
				}
			}
		}
		if math.IsInf(cost[0][0], 1) {
			ok = false
			// Still pair what can be paired, nearest age first, for a
			// household the card says is the same.
			used := make([]bool, m)
			for _, c := range e {
				best, gap := -1, inf
				for j, x := range l {
					if d := math.Abs(float64(x.Age) - (float64(c.Age) + years)); !used[j] && d < gap && d <= tol {
						best, gap = j, d
					}
				}
				if best >= 0 {
					used[best] = true
					pair[c.Ordinal] = l[best].Ordinal
				} else {
					pair[c.Ordinal] = 0
				}
			}
			continue
		}
		for i, j := 0, 0; i < n || j < m; {
			switch move[i][j] {
			case 'm':
				pair[e[i].Ordinal] = l[j].Ordinal
				i, j = i+1, j+1
			case 'e':
				pair[e[i].Ordinal] = 0
				i++
			default:
				j++
			}
		}
	}
	return pair, ok
}

// ProgrammeID is the form of a programme household id: the number on the
// household's programme card (never a NIK or a name).
var ProgrammeID = regexp.MustCompile(`^[A-Z]{2,5}-[0-9]{3,8}$`)

// CheckProgrammeID explains what is wrong with a programme household id.
func CheckProgrammeID(s string) error {
	if s == "" || ProgrammeID.MatchString(s) {
		return nil
	}
	if len(s) == 16 && strings.Trim(s, "0123456789") == "" {
		return fmt.Errorf("%q looks like a NIK (16 digits): the survey must not record national ID numbers; write the programme card's number (e.g. KSP-001234)", s)
	}
	return fmt.Errorf("%q is not a programme household id: want 2-5 capital letters, a dash and 3-8 digits, e.g. KSP-001234", s)
}

// CaseEntityID is the id of a case on the phones (an ODK entity, a row
// of the KoBo list): a name-based UUID (version 5) of the
// case number, so every push, and the importer, agree on it without a table
// of ids.
func CaseEntityID(id int64) string {
	// The namespace is this project's own (a version 4 UUID chosen once).
	ns := []byte{0x6b, 0x1f, 0x3e, 0x52, 0x9a, 0x0c, 0x4d, 0x8e, 0xb1, 0x27, 0x5f, 0x60, 0x44, 0x93, 0xc2, 0x0d}
	h := sha1.New()
	h.Write(ns)
	h.Write([]byte("riskmap-case:" + strconv.FormatInt(id, 10)))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// IdentityCandidate is a household of an earlier round that a household
// surveyed now may be: found by the same programme card, or in the same
// village within MaxDistanceM (storage finds them; this rule decides).
type IdentityCandidate struct {
	Submission int64      // the earlier household row
	Identity   int64      // the household identity it belongs to
	Card       bool       // found by the same programme card number
	Years      float64    // years between the two surveys
	At         time.Time  // when the earlier one was surveyed
	Children   []ChildAge // its children as then recorded
}

// Identity rules a decision may carry.
const (
	IdentityNew       = "new"
	IdentityByCard    = "programme_id"
	IdentityByPlace   = "place_and_children"
	IdentityAmbiguous = "ambiguous"
)

// IdentityDecision is what the rule says of one household surveyed now.
type IdentityDecision struct {
	Identity   int64       // 0 when new or ambiguous
	Rule       string      // IdentityNew, IdentityByCard, IdentityByPlace or IdentityAmbiguous
	Pair       map[int]int // earlier ordinal -> this survey's ordinal
	From       int64       // the earlier submission matched
	Candidates []int64     // ambiguous: the submissions it might be
}

// Decide matches a household surveyed now (its children) to its earlier
// candidates (docs/methodology.md, "Rounds and household identity"):
// each identity speaks through its latest earlier submission; a card match
// wins (the latest); else exactly one candidate whose children match by
// place; several are ambiguous (kept new, never guessed); none is new.
func (id Identity) Decide(children []ChildAge, cands []IdentityCandidate) IdentityDecision {
	latest := map[int64]IdentityCandidate{}
	for _, c := range cands {
		if l, ok := latest[c.Identity]; !ok || c.At.After(l.At) {
			latest[c.Identity] = c
		}
	}
	var byCard, byPlace []IdentityCandidate
	for _, c := range latest {
		if c.Card {
			byCard = append(byCard, c)
		} else if _, ok := id.MatchChildren(c.Children, children, c.Years); ok {
			byPlace = append(byPlace, c)
		}
	}
	d := IdentityDecision{Rule: IdentityNew}
	switch {
	case len(byCard) > 0:
		sort.Slice(byCard, func(i, j int) bool { return byCard[i].At.After(byCard[j].At) })
		c := byCard[0]
		d.Identity, d.Rule, d.From = c.Identity, IdentityByCard, c.Submission
		d.Pair, _ = id.MatchChildren(c.Children, children, c.Years)
	case len(byPlace) == 1:
		c := byPlace[0]
		d.Identity, d.Rule, d.From = c.Identity, IdentityByPlace, c.Submission
		d.Pair, _ = id.MatchChildren(c.Children, children, c.Years)
	case len(byPlace) > 1:
		d.Rule = IdentityAmbiguous
		for _, c := range byPlace {
			d.Candidates = append(d.Candidates, c.Submission)
		}
	}
	return d
}

// RoundIdentity is one identity in one survey round.
type RoundIdentity struct {
	Round    string
	Identity int64
}

// IdentityClaims are the (round, identity) pairs that decisions claim, to
// find which of them the round already holds from another submission
// (what ResolveIdentityConflicts's present needs). roundOf is each decided
// household's round.
func IdentityClaims(decided map[int64]*IdentityDecision, roundOf map[int64]string) []RoundIdentity {
	seen := map[RoundIdentity]bool{}
	var out []RoundIdentity
	for hid, d := range decided {
		if d.Identity == 0 {
			continue
		}
		k := RoundIdentity{roundOf[hid], d.Identity}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Round != out[j].Round {
			return out[i].Round < out[j].Round
		}
		return out[i].Identity < out[j].Identity
	})
	return out
}

// ResolveIdentityConflicts applies "one submission per household and
// round" to the decisions of one import, in place: an identity that two
// of the import's households of a round claim, or that the round already
// holds from another submission (present), fits neither claim, and each
// becomes ambiguous (kept as a new household, the submission it was
// matched from as its candidate), except a lone claim by the programme
// card: the card decides, and the submission already there is the one to
// question.
func ResolveIdentityConflicts(decided map[int64]*IdentityDecision, roundOf map[int64]string, present map[RoundIdentity]bool) {
	claims := map[RoundIdentity][]int64{}
	for hid, d := range decided {
		if d.Identity != 0 {
			k := RoundIdentity{roundOf[hid], d.Identity}
			claims[k] = append(claims[k], hid)
		}
	}
	for k, hids := range claims {
		if len(hids) == 1 && !present[k] {
			continue
		}
		for _, hid := range hids {
			d := decided[hid]
			if d.Rule == IdentityByCard && len(hids) == 1 {
				continue
			}
			d.Candidates = []int64{d.From}
			d.Rule, d.Identity, d.Pair = IdentityAmbiguous, 0, nil
		}
	}
}
