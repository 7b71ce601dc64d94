package risk

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

//go:embed models/*.json
var models embed.FS

// DefaultModelFile is the model riskmap scores with unless told otherwise.
const DefaultModelFile = "models/kesempatan-v1.json"

// Model is a versioned risk model: every weight, threshold and calendar the
// scoring uses. It lives in a JSON file, never in code; docs/methodology.md
// explains each number and its source.
type Model struct {
	Version     string    `json:"version"`
	Description string    `json:"description"`
	ChildRule   ChildRule `json:"child_rule"`
	Household   struct {
		Weights            map[string]float64 `json:"weights"`
		ExposureTasks      []string           `json:"exposure_tasks"`
		PovertyProgrammes  []string           `json:"poverty_programmes"`
		LowEducation       []string           `json:"low_education"`
		HarvestAbsenceDays int                `json:"harvest_absence_days"`
		// SchoolMinAge: the school indicator counts children of this age
		// and older (compulsory schooling starts at 7); a toddler not
		// enrolled is not a school dropout.
		SchoolMinAge     int     `json:"school_min_age"`
		DependencyRatio  float64 `json:"dependency_ratio"`
		ProximityRadiusM float64 `json:"proximity_radius_m"`
		// ProjectedSRID is a metric CRS for distances (UTM 49S for East Java):
		// planar distances there are within 0.1% of geodesic ones.
		ProjectedSRID     int      `json:"projected_srid"`
		LabourLivelihoods []string `json:"labour_livelihoods"`
		GrowerLivelihoods []string `json:"grower_livelihoods"`
	} `json:"household"`
	Village struct {
		Weights      map[string]float64 `json:"weights"`
		FullAt       map[string]float64 `json:"full_at"`
		Institutions []string           `json:"institutions"`
	} `json:"village"`
	Tiers struct {
		Medium float64 `json:"medium"`
		High   float64 `json:"high"`
	} `json:"tiers"`
	Hotspots struct {
		Permutations  int       `json:"permutations"`
		Seed          uint64    `json:"seed"`
		Significance  []float64 `json:"significance"`
		DistanceBandM float64   `json:"distance_band_m"` // 0: queen contiguity
		// ContiguityToleranceM: vertices this close count as shared
		// (0: exactly shared, as libpysal's Queen).
		ContiguityToleranceM float64 `json:"contiguity_tolerance_m"`
	} `json:"hotspots"`
	Publication PublicationRule `json:"publication"`
	Estimation  struct {
		// MinGroupAreas: a kecamatan needs this many published villages to
		// be the prior of small-area estimation; else its kabupaten is.
		MinGroupAreas int `json:"min_group_areas"`
		// Level of the credible intervals published (e.g. 0.9).
		Level float64 `json:"level"`
		// RankTails scale the halves of the rank simulation's draws, for
		// the published ranking and the exact one (RankTails; absent: 1
		// and 1, the intervals as they are).
		RankTails struct {
			Published RankTails `json:"published"`
			Exact     RankTails `json:"exact"`
		} `json:"rank_tails"`
		// ErrorCorrelation is the base of the correlation taken between a
		// score's components' estimation errors when their intervals are
		// combined (rho = base + the village's mean shrinkage, at most 1),
		// for figures on published and on exact counts (absent: 0.15,
		// the rule before it was fitted per basis). Published counts carry
		// the rounding to the publication's base, which the estimators
		// do not model, so they need the wider interval.
		ErrorCorrelation struct {
			Published *float64 `json:"published"`
			Exact     *float64 `json:"exact"`
		} `json:"error_correlation"`
		// RankIntervalLevel is the level the rank intervals are read at
		// for the published and the exact ranking (absent: Level), so that
		// they cover Level of true ranks (riskmap evaluate measures it).
		RankIntervalLevel struct {
			Published float64 `json:"published"`
			Exact     float64 `json:"exact"`
		} `json:"rank_interval_level"`
		// PTopCurve recalibrates p_top for the published and the exact
		// ranking (CalibratePTop; absent: the draws' shares as they are),
		// fitted by riskmap evaluate --fit-curve.
		PTopCurve struct {
			Published PTopCurve `json:"published"`
			Exact     PTopCurve `json:"exact"`
		} `json:"p_top_curve"`
	} `json:"estimation"`
	// Retention: how long a household's data is kept after the last
	// contact with it (the survey, or a follow-up), before `riskmap
	// retention --apply` erases it (UU 27/2022: no longer than needed).
	Retention struct {
		MonthsAfterLastContact int `json:"months_after_last_contact"`
	} `json:"retention"`
	// Identity matches a household surveyed again without its programme id.
	Identity Identity `json:"identity"`
	// Cases: the CLMRS cycle of identified children.
	Cases          Cases  `json:"cases"`
	DefaultVariety string `json:"default_variety"`
	// AreaVarieties names the variety (and so the calendar) of an area
	// whose own tobacco fields do not say: kabupaten or kecamatan code ->
	// variety; the longest matching code wins.
	AreaVarieties map[string]string    `json:"area_varieties"`
	Calendar      map[string][]float64 `json:"calendar"`
}

// VarietyOf returns the variety of a village whose fields do not name one:
// the variety of the longest area code in AreaVarieties that holds it, else
// the default variety.
func (m *Model) VarietyOf(village string) string {
	best, v := -1, m.DefaultVariety
	for code, variety := range m.AreaVarieties {
		if (village == code || strings.HasPrefix(village, code+".")) && len(code) > best {
			best, v = len(code), variety
		}
	}
	return v
}

// ChildRule holds the thresholds of the child-labour classification.
type ChildRule struct {
	MinWorkAge              int      `json:"min_work_age"`
	LightWorkMinAge         int      `json:"light_work_min_age"`
	OlderMinAge             int      `json:"older_min_age"`
	MaxChildAge             int      `json:"max_child_age"`
	LightWorkMaxHoursWeek   float64  `json:"light_work_max_hours_week"`
	LightWorkMaxHoursDay    float64  `json:"light_work_max_hours_day"`
	OlderMaxHoursWeek       float64  `json:"older_max_hours_week"`
	HazardousTasks          []string `json:"hazardous_tasks"`
	GTSSymptomsAreHazardous bool     `json:"gts_symptoms_are_hazardous"`
}

// The indicators a model must weigh, in the order they are reported.
var (
	HouseholdIndicators = []string{"children_13_17", "farm_labourer", "school", "handled_leaf", "tobacco_proximity",
		"poverty", "single_parent_or_orphan", "disability", "dependency", "low_caregiver_education"}
	VillageIndicators = []string{"prevalence", "mean_household_score", "tobacco_share", "farm_labourer_share",
		"poverty_share", "institutions_missing"}
	InstitutionKinds = []string{"task_force", "forum_anak", "perdes"}
)

// DefaultModel returns the embedded default model.
func DefaultModel() (*Model, error) {
	b, err := models.ReadFile(DefaultModelFile)
	if err != nil {
		return nil, err
	}
	return ParseModel(b, DefaultModelFile)
}

// ParseModel reads and validates a model. Unknown fields are errors: a
// misspelt weight must not silently become zero.
func ParseModel(b []byte, name string) (*Model, error) {
	var m Model
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, Errorf(EINVALID, "model %s: %v", name, err)
	}
	if p := &m.Publication; p.ChangeMinHouseholds == 0 && p.ChangeMinChildren == 0 {
		// Written before releases had a change threshold: the minimum
		// sample is the documented default (PublicationRule).
		p.ChangeMinHouseholds, p.ChangeMinChildren = p.MinHouseholds, p.MinChildren
	}
	if err := m.Validate(); err != nil {
		return nil, Errorf(EINVALID, "model %s: %v", name, err)
	}
	return &m, nil
}

// Validate reports everything wrong with the model, not only the first thing.
func (m *Model) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if strings.TrimSpace(m.Version) == "" {
		bad("version is missing")
	}
	if m.Retention.MonthsAfterLastContact < 12 || m.Retention.MonthsAfterLastContact > 240 {
		bad("retention.months_after_last_contact is %d: want 12..240 (a follow-up cycle is 6 months; the programme's data must not outlive its purpose)", m.Retention.MonthsAfterLastContact)
	}
	r := m.ChildRule
	if !(0 < r.MinWorkAge && r.MinWorkAge < r.LightWorkMinAge && r.LightWorkMinAge < r.OlderMinAge && r.OlderMinAge <= r.MaxChildAge && r.MaxChildAge < 18) {
		bad("child_rule ages must rise: 0 < min_work_age (%d) < light_work_min_age (%d) < older_min_age (%d) <= max_child_age (%d) < 18",
			r.MinWorkAge, r.LightWorkMinAge, r.OlderMinAge, r.MaxChildAge)
	}
	if r.LightWorkMaxHoursWeek <= 0 || r.LightWorkMaxHoursDay <= 0 || r.OlderMaxHoursWeek <= r.LightWorkMaxHoursWeek {
		bad("child_rule hours must be positive and older_max_hours_week above light_work_max_hours_week")
	}
	for _, t := range r.HazardousTasks {
		if !IsChoice(ChildTasks, t) {
			bad("child_rule.hazardous_tasks: %q is not a task code of the survey", t)
		}
	}
	checkWeights := func(section string, weights map[string]float64, want []string) {
		var sum float64
		for _, k := range want {
			w, ok := weights[k]
			if !ok {
				bad("%s.weights: %s is missing", section, k)
			}
			if w < 0 {
				bad("%s.weights: %s is negative", section, k)
			}
			sum += w
		}
		for k := range weights {
			if !slices.Contains(want, k) {
				bad("%s.weights: unknown indicator %q (known: %s)", section, k, strings.Join(want, ", "))
			}
		}
		if math.Abs(sum-100) > 1e-9 {
			bad("%s.weights sum to %g, want 100", section, sum)
		}
	}
	checkWeights("household", m.Household.Weights, HouseholdIndicators)
	checkWeights("village", m.Village.Weights, VillageIndicators)
	for _, k := range VillageIndicators {
		if m.Village.FullAt[k] <= 0 {
			bad("village.full_at.%s must be positive", k)
		}
	}
	for _, k := range m.Village.Institutions {
		if !IsChoice(InstitutionKinds, k) {
			bad("village.institutions: %q is not one of %s", k, strings.Join(InstitutionKinds, ", "))
		}
	}
	for _, list := range []struct {
		name    string
		codes   []string
		allowed []string
	}{
		{"household.exposure_tasks", m.Household.ExposureTasks, ChildTasks},
		{"household.poverty_programmes", m.Household.PovertyProgrammes, PovertyProgrammes},
		{"household.low_education", m.Household.LowEducation, EducationLevels},
		{"household.labour_livelihoods", m.Household.LabourLivelihoods, Livelihoods},
		{"household.grower_livelihoods", m.Household.GrowerLivelihoods, Livelihoods},
	} {
		for _, c := range list.codes {
			if !IsChoice(list.allowed, c) {
				bad("%s: %q is not a code of the survey", list.name, c)
			}
		}
	}
	if m.Household.SchoolMinAge < 5 || m.Household.SchoolMinAge > 12 {
		bad("household.school_min_age must be 5..12")
	}
	if m.Household.ProximityRadiusM <= 0 || m.Household.DependencyRatio <= 0 || m.Household.HarvestAbsenceDays < 1 || m.Household.ProjectedSRID <= 0 {
		bad("household: proximity_radius_m, projected_srid, dependency_ratio and harvest_absence_days must be positive")
	}
	if !(0 < m.Tiers.Medium && m.Tiers.Medium < m.Tiers.High && m.Tiers.High <= 100) {
		bad("tiers must be ordered: 0 < medium (%g) < high (%g) <= 100", m.Tiers.Medium, m.Tiers.High)
	}
	h := m.Hotspots
	if h.Permutations < 99 || h.DistanceBandM < 0 || h.ContiguityToleranceM < 0 || h.ContiguityToleranceM > 100 {
		bad("hotspots: permutations must be at least 99, distance_band_m not negative and contiguity_tolerance_m in 0..100")
	}
	if len(h.Significance) != 3 || !(0 < h.Significance[0] && h.Significance[0] < h.Significance[1] && h.Significance[1] < h.Significance[2] && h.Significance[2] < 1) {
		bad("hotspots.significance must be three rising levels, e.g. [0.01, 0.05, 0.10]")
	}
	m.Publication.validate(bad)
	m.Identity.validate(bad)
	m.Cases.validate(bad)
	if m.Estimation.MinGroupAreas < 2 || !(0.5 <= m.Estimation.Level && m.Estimation.Level < 1) {
		bad("estimation: min_group_areas must be at least 2 and level in [0.5, 1)")
	}
	for basis, t := range map[string]RankTails{"published": m.Estimation.RankTails.Published, "exact": m.Estimation.RankTails.Exact} {
		if !(t.Lower == 0 || 0.5 <= t.Lower && t.Lower <= 2) || !(t.Upper == 0 || 0.5 <= t.Upper && t.Upper <= 2) {
			bad("estimation.rank_tails.%s: lower and upper must be in [0.5, 2] (or absent: 1)", basis)
		}
	}
	for basis, l := range map[string]float64{"published": m.Estimation.RankIntervalLevel.Published, "exact": m.Estimation.RankIntervalLevel.Exact} {
		if l != 0 && !(m.Estimation.Level <= l && l < 1) {
			bad("estimation.rank_interval_level.%s must be in [level, 1) (or absent: level)", basis)
		}
	}
	for basis, c := range map[string]PTopCurve{"published": m.Estimation.PTopCurve.Published, "exact": m.Estimation.PTopCurve.Exact} {
		for i, k := range c {
			if !(0 < k[0] && k[0] < 1 && 0 <= k[1] && k[1] <= 1) || i > 0 && !(k[0] > c[i-1][0] && k[1] >= c[i-1][1]) {
				bad("estimation.p_top_curve.%s: knot %d %v: want p in (0, 1) strictly increasing and q in [0, 1] not decreasing", basis, i+1, k)
				break
			}
		}
	}
	for basis, c := range map[string]*float64{"published": m.Estimation.ErrorCorrelation.Published, "exact": m.Estimation.ErrorCorrelation.Exact} {
		if c != nil && !(-0.5 <= *c && *c <= 1) {
			bad("estimation.error_correlation.%s must be in [-0.5, 1] (or absent: %g)", basis, scoreErrorBase)
		}
	}
	for code, v := range m.AreaVarieties {
		if _, ok := m.Calendar[v]; !ok {
			bad("area_varieties: %s names variety %q, which has no calendar", code, v)
		}
	}
	if _, ok := m.Calendar[m.DefaultVariety]; !ok {
		bad("default_variety %q has no calendar", m.DefaultVariety)
	}
	varieties := make([]string, 0, len(m.Calendar))
	for v := range m.Calendar {
		varieties = append(varieties, v)
	}
	sort.Strings(varieties)
	for _, v := range varieties {
		c := m.Calendar[v]
		if len(c) != 12 {
			bad("calendar %q has %d months, want 12", v, len(c))
		}
		for i, x := range c {
			if x < 0 || x > 1 {
				bad("calendar %q month %d: %g is outside 0..1", v, i+1, x)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// Tier returns the tier of a score 0-100.
func (m *Model) Tier(score float64) string {
	switch {
	case score >= m.Tiers.High:
		return "high"
	case score >= m.Tiers.Medium:
		return "medium"
	}
	return "low"
}
