package risk

import (
	"slices"
	"strings"
	"time"
)

// The answer codes of the household survey form (geodata/forms). A test keeps
// the form's choices sheet and these lists equal.
var (
	Livelihoods         = []string{"tobacco_grower", "farm_labourer", "tobacco_sharecropper", "other_farming", "trader", "wage_other", "migrant_remittance", "other"}
	PovertyProgrammes   = []string{"pkh", "bpnt", "dtks", "pip", "none"}
	EducationLevels     = []string{"none", "primary", "junior_secondary", "senior_secondary", "higher"}
	Sexes               = []string{"female", "male"}
	SchoolStatuses      = []string{"enrolled", "not_enrolled", "dropped_out", "not_school_age"}
	ChildTasks          = []string{"harvest_green_leaf", "pesticide", "carry_heavy", "rajang_slicing", "night_work", "extreme_heat", "drying", "folding_sorting", "planting", "weeding_watering", "fertiliser", "topping", "household_chores", "other"}
	HazardousTasks      = []string{"harvest_green_leaf", "pesticide", "carry_heavy", "rajang_slicing", "night_work", "extreme_heat"}
	GTSSymptoms         = []string{"nausea", "vomiting", "headache", "dizziness"}
	OrphanStatuses      = []string{"no", "father", "mother", "both"}
	LowCaregiverEduc    = []string{"none", "primary"}
	SurveySources       = []string{"kobo", "odk"}
	BoundaryLevels      = []string{"kabupaten", "kecamatan", "desa"}
	MaxChildAge         = 17
	MaxHouseholdMembers = 60
)

// IsChoice reports whether v is one of the allowed codes.
func IsChoice(allowed []string, v string) bool { return slices.Contains(allowed, v) }

// Household is one household survey submission. It never holds names or
// national ID numbers (NIK): the programme does not need them to target visits.
type Household struct {
	SurveyUUID         string
	Source             string // kobo or odk
	SubmittedAt        time.Time
	ReportedVillage    string // village code chosen by the enumerator; may be empty
	ProgrammeID        string // the household's programme card number (never a NIK); may be empty
	Lon, Lat           float64
	GPSPrecision       float64 // metres; 0 when unknown
	Livelihoods        []string
	PovertyProgrammes  []string
	CaregiverEducation string
	SingleParent       bool
	Members            int
	WorkingAdults      int
}

// Child is one child in a household, as answered in the survey's repeat group.
type Child struct {
	HouseholdUUID      string
	Ordinal            int // 1-based position in the household's repeat group
	Age                int
	Sex                string
	SchoolStatus       string
	HarvestAbsenceDays int
	Works              bool
	WorkHoursWeek      float64
	WorkHoursDay       float64
	WorksInSchoolHours bool
	Tasks              []string
	GTSSymptoms        []string
	Disability         bool
	SpecialNeeds       bool
	Orphan             string
}

// Boundary is one administrative area: a kabupaten, kecamatan or desa.
type Boundary struct {
	Level      string
	Code       string
	Name       string
	ParentCode string // kecamatan code of a desa, kabupaten code of a kecamatan
}

// Plantation is one tobacco field.
type Plantation struct {
	ID           string
	Variety      string
	PlantingDate time.Time // zero when unknown
}

// CalendarEntry is the labour-demand index of a tobacco variety in one month.
type CalendarEntry struct {
	Variety   string
	Month     int     // 1..12
	LabourIdx float64 // 0 (none) .. 1 (peak)
	Note      string
}

// ValidAreaCode reports whether code is a Kemendagri kabupaten (35.13),
// kecamatan (35.13.13) or desa (35.13.13.2003) code.
func ValidAreaCode(code string) bool { return IsAreaCode(code) && strings.Contains(code, ".") }

// ParentCode returns the code one level up: 35.13.13.2003 -> 35.13.13.
func ParentCode(code string) string {
	for i := len(code) - 1; i >= 0; i-- {
		if code[i] == '.' {
			return code[:i]
		}
	}
	return ""
}
