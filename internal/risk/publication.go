package risk

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// PublicationRule is how riskmap publishes counts to the public and to
// planners (docs/methodology.md, "What is published"). It lives in the
// model file.
type PublicationRule struct {
	// An area is published only with at least this many surveyed
	// households and children aged 5-17; below, it shows insufficient_data
	// and its households count toward its parents only.
	MinHouseholds int `json:"min_households"`
	MinChildren   int `json:"min_children"`
	// RoundingBase: every published count is rounded to a multiple of it.
	RoundingBase int `json:"rounding_base"`
	// The audit's rule for every count (DisclosureRule).
	MinIntervalWidth int `json:"min_interval_width"`
	SmallCountMax    int `json:"small_count_max"`
	// Published shares and mean scores are rounded to these steps.
	ShareStep float64 `json:"share_step"`
	ScoreStep float64 `json:"score_step"`
	// Releases over time (docs/methodology.md, "Releases over time"): a
	// village's published figures change only when at least this many of
	// its households, with at least this many children aged 5-17 among
	// them, arrived, left or answered differently since its figures were
	// last taken; otherwise the previous release stands for it. The case
	// pipeline of a kecamatan changes when ChangeMinChildren cases did. A
	// model file without them takes the minimum sample (min_households,
	// min_children): a difference between two releases is a figure about
	// the households that changed, and needs as many as any figure does.
	ChangeMinHouseholds int `json:"change_min_households"`
	ChangeMinChildren   int `json:"change_min_children"`
}

// Disclosure returns the rule the audit applies.
func (r PublicationRule) Disclosure() DisclosureRule {
	return DisclosureRule{MinWidth: r.MinIntervalWidth, SmallMax: r.SmallCountMax}
}

// AuditLimit is how far the audit follows each interval: enough to decide
// DisclosureRule.Safe exactly.
func (r PublicationRule) AuditLimit() int { return max(r.MinIntervalWidth, r.SmallCountMax+1) + 1 }

func (r PublicationRule) validate(bad func(string, ...any)) {
	if r.MinHouseholds < 1 || r.MinChildren < 1 {
		bad("publication: min_households and min_children must be at least 1")
	}
	if r.RoundingBase < 1 || r.MinIntervalWidth < 1 || r.SmallCountMax < 0 {
		bad("publication: rounding_base and min_interval_width must be at least 1, small_count_max not negative")
	}
	if r.ChangeMinHouseholds < 2 || r.ChangeMinChildren < 2 {
		bad("publication: change_min_households and change_min_children must be at least 2 (1 would publish every single household's change)")
	}
	if r.ShareStep <= 0 || r.ShareStep > 0.5 || r.ScoreStep <= 0 || r.ScoreStep > 10 {
		bad("publication: share_step must be in (0, 0.5] and score_step in (0, 10]")
	}
}

// The published count measures. The classes add up to children in every
// area; households and the household-type counts are trees of their own.
var (
	ClassMeasures     = []string{"hazardous", "child_labour", "light_work", "not_working"}
	HouseholdMeasures = []string{"households", "labourer_households", "poor_households"}
	CountMeasures     = append(append([]string{"children"}, ClassMeasures...), HouseholdMeasures...)
)

// The publication's area levels, top down.
const (
	LevelKabupaten = "kabupaten"
	LevelKecamatan = "kecamatan"
	LevelDesa      = "desa"
)

// AreaID is an area's key in the publication: its level and code,
// "desa:35.13.13.2003", unique across levels. Build and read keys only
// with AreaID and SplitAreaID.
func AreaID(level, code string) string { return level + ":" + code }

// areaCodeRE is a Kemendagri area code: a province (35), kabupaten
// (35.13), kecamatan (35.13.13) or village (35.13.13.2003).
var areaCodeRE = regexp.MustCompile(`^[0-9]{2}(\.[0-9]{2}(\.[0-9]{2}(\.[0-9]{4})?)?)?$`)

// IsAreaCode reports whether code is a Kemendagri area code of any level.
func IsAreaCode(code string) bool { return areaCodeRE.MatchString(code) }

// SplitAreaID is AreaID's inverse; ok is false for a key with no level.
func SplitAreaID(id string) (level, code string, ok bool) { return strings.Cut(id, ":") }

// AreaCounts is one area's true counts. Area is its AreaID; Parent its
// parent's, "" for a root.
type AreaCounts struct {
	Area, Parent string
	Leaf         bool // a village: planners can count its households' masked points
	Counts       map[string]int
}

// PublishedArea is what the public and planners are told of one area's
// counts: a value per measure, or nil where it is withheld.
type PublishedArea struct {
	Eligible bool // met the minimum sample
	Values   map[string]*int
}

// Finding is a count the audit finds an attacker can narrow too far.
type Finding struct {
	View     string // "public" or "planner"
	Cell     Cell
	Interval Interval
	Withheld bool
}

func (f Finding) String() string {
	state := "published"
	if f.Withheld {
		state = "withheld"
	}
	return fmt.Sprintf("%s view: %s %s (%s) can be narrowed to %s", f.View, f.Cell.Area, f.Cell.Measure, state, f.Interval)
}

// Publish decides the published counts: areas under the minimum sample are
// withheld whole, every other count is rounded to the base, and the audit
// (Audit) runs on the result. For each count it finds too narrow, one more
// count is withheld: in its row, the least telling published one
// (rowComplements) for a published class count; the count itself for a
// published household count; its parent's count of the same measure, or
// else its row's total, for a withheld one. The audit runs again, until it
// finds nothing. It returns the
// publication and the rounds of the audit it took.
//
// Each root's tree (a kabupaten with its kecamatan and villages) is
// published apart, in parallel: trees share no published count, so a count
// withheld in one changes nothing the audit finds in another, and a tree
// that passes stops being audited while others go on.
func Publish(areas []AreaCounts, rule PublicationRule) (map[string]PublishedArea, int, error) {
	trees, err := SplitTrees(areas)
	if err != nil {
		return nil, 0, err
	}
	pubs := make([]map[string]PublishedArea, len(trees))
	rounds := make([]int, len(trees))
	errs := make([]error, len(trees))
	parallel(len(trees), func(i int) { pubs[i], rounds[i], errs[i] = publishTree(trees[i], rule) })
	out := make(map[string]PublishedArea, len(areas))
	most := 1
	for i := range trees {
		if errs[i] != nil {
			return nil, rounds[i], errs[i]
		}
		for a, p := range pubs[i] {
			out[a] = p
		}
		most = max(most, rounds[i])
	}
	return out, most, nil
}

// SplitTrees returns the areas of each root's tree (an area whose Parent is
// ""), roots in order of name, areas in the order given; an area whose
// parent is missing, or that hangs from no root, is an error (forest).
func SplitTrees(areas []AreaCounts) ([][]AreaCounts, error) {
	parent := make(map[string]string, len(areas))
	for _, a := range areas {
		parent[a.Area] = a.Parent
	}
	names, _, err := forest(parent)
	if err != nil {
		return nil, err
	}
	tree := make(map[string]int, len(areas))
	for i, t := range names {
		for _, a := range t {
			tree[a] = i
		}
	}
	trees := make([][]AreaCounts, len(names))
	for _, a := range areas {
		trees[tree[a.Area]] = append(trees[tree[a.Area]], a)
	}
	return trees, nil
}

// RootSums is the sum of the roots' published counts of measure m: a total
// over all areas derived from published figures only (a root whose count is
// withheld adds nothing), so it adds nothing to what the audit covers.
func RootSums(areas []AreaCounts, pub map[string]PublishedArea, m string) int {
	sum := 0
	for _, a := range areas {
		if v := pub[a.Area].Values[m]; a.Parent == "" && v != nil {
			sum += *v
		}
	}
	return sum
}

// publishTree is Publish for the areas of one root's tree.
func publishTree(areas []AreaCounts, rule PublicationRule) (map[string]PublishedArea, int, error) {
	out := make(map[string]PublishedArea, len(areas))
	byArea := map[string]AreaCounts{}
	for _, a := range areas {
		byArea[a.Area] = a
		p := PublishedArea{Eligible: a.Counts["households"] >= rule.MinHouseholds && a.Counts["children"] >= rule.MinChildren,
			Values: map[string]*int{}}
		for _, m := range CountMeasures {
			if p.Eligible {
				v := RoundCount(a.Counts[m], rule.RoundingBase)
				p.Values[m] = &v
			} else {
				p.Values[m] = nil
			}
		}
		out[a.Area] = p
	}
	for round := 1; round <= 100; round++ {
		findings, err := Audit(areas, out, rule)
		if err != nil {
			return nil, round, err
		}
		if len(findings) == 0 {
			return out, round, nil
		}
		// Withhold one count per area and measure group per round: one
		// withheld cell usually frees its neighbours too.
		done := map[string]bool{}
		changed := false
		for _, f := range findings {
			c := f.Cell
			group := c.Area + "/" + groupOf(c.Measure)
			if done[group] {
				continue
			}
			target, ok := c, !f.Withheld
			if !f.Withheld && groupOf(c.Measure) == "children" {
				// A published class count pinned by its row: withhold the
				// row's least telling published count instead, so that
				// hazardous and child_labour, hence prevalence, stay
				// published where they can (as tau-Argus's cost weights do).
				for _, m := range rowComplements {
					if out[c.Area].Values[m] != nil {
						target = Cell{c.Area, m}
						break
					}
				}
			}
			if f.Withheld {
				// Its own value is hidden but its neighbours pin it: hide
				// the parent's count of the same measure, or its row total.
				if p := byArea[c.Area].Parent; p != "" && out[p].Values[c.Measure] != nil {
					target, ok = Cell{p, c.Measure}, true
				} else if groupOf(c.Measure) == "children" && out[c.Area].Values["children"] != nil {
					target, ok = Cell{c.Area, "children"}, true
				}
			}
			if !ok || out[target.Area].Values[target.Measure] == nil {
				continue
			}
			out[target.Area].Values[target.Measure] = nil
			done[group] = true
			changed = true
		}
		if !changed {
			return nil, round, fmt.Errorf("publication: the audit still finds %d narrow counts and nothing left to withhold, first: %s", len(findings), findings[0])
		}
	}
	return nil, 100, fmt.Errorf("publication: no safe publication after 100 rounds")
}

// rowComplements is the order in which a row's counts are withheld to
// protect one of them: the counts that matter least for child labour first.
var rowComplements = []string{"not_working", "light_work", "child_labour", "children", "hazardous"}

func groupOf(measure string) string {
	for _, m := range ClassMeasures {
		if m == measure {
			return "children"
		}
	}
	if measure == "children" {
		return "children"
	}
	return measure
}

// Audit returns every count of a publication that an attacker can narrow
// beyond the rule, in two views: the public (rounded counts) and planners,
// who also count the masked household points of every village whose
// household count is published, and so know those counts exactly.
func Audit(areas []AreaCounts, pub map[string]PublishedArea, rule PublicationRule) ([]Finding, error) {
	var findings []Finding
	for _, view := range []string{"public", "planner"} {
		tables := []*CountTable{{Parts: ClassMeasures, Total: "children"}}
		for _, m := range HouseholdMeasures {
			tables = append(tables, &CountTable{Parts: []string{m}})
		}
		for _, t := range tables {
			t.Parent, t.True, t.Known = map[string]string{}, map[Cell]int{}, map[Cell]Interval{}
			measures := t.Parts
			if t.Total != "" {
				measures = append(append([]string{}, t.Parts...), t.Total)
			}
			for _, a := range areas {
				t.Parent[a.Area] = a.Parent
				p, ok := pub[a.Area]
				if !ok {
					return nil, fmt.Errorf("audit: area %s has no publication", a.Area)
				}
				for _, m := range measures {
					c := Cell{a.Area, m}
					t.True[c] = a.Counts[m]
					v := p.Values[m]
					switch {
					case v == nil:
						t.Known[c] = Interval{0, Unbounded}
					case view == "planner" && m == "households" && a.Leaf:
						t.Known[c] = Interval{a.Counts[m], a.Counts[m]}
					default:
						t.Known[c] = RoundedInterval(*v, rule.RoundingBase)
					}
				}
			}
			ivs, err := t.Intervals(rule.AuditLimit())
			if err != nil {
				return nil, err
			}
			dr := rule.Disclosure()
			for c, iv := range ivs {
				if view == "planner" && c.Measure == "households" && iv.Lo >= rule.MinHouseholds {
					// Planners count the masked points of published villages,
					// so they know those villages' household counts (each at
					// least min_households) and their sums exactly, on purpose.
					// A count under the minimum can never start there: its
					// interval holds its true value.
					continue
				}
				withheld := pub[c.Area].Values[c.Measure] == nil
				if !dr.Safe(iv, dr.Sensitive(t.True[c], withheld)) {
					findings = append(findings, Finding{View: view, Cell: c, Interval: iv, Withheld: withheld})
				}
			}
		}
	}
	sort.Slice(findings, func(i, j int) bool {
		a, b := findings[i], findings[j]
		if a.Cell.Area != b.Cell.Area {
			return a.Cell.Area < b.Cell.Area
		}
		if a.Cell.Measure != b.Cell.Measure {
			return a.Cell.Measure < b.Cell.Measure
		}
		return a.View < b.View
	})
	return findings, nil
}

// FormatFindings lists findings one a line.
func FormatFindings(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}
