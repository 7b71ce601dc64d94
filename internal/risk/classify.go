package risk

import (
	"fmt"
	"slices"
)

// Child classifications, most serious first.
const (
	Hazardous   = "hazardous"
	ChildLabour = "child_labour"
	LightWork   = "light_work"
	NotWorking  = "not_working"
)

// Classifications lists them, most serious first.
var Classifications = []string{Hazardous, ChildLabour, LightWork, NotWorking}

// ClassifyChild reports the child-labour status of one child under UU 13/2003
// and the BPS statistical definition, with the reason, using the model's
// thresholds. It is a rule, not a score:
//  1. hazardous: under 18 and any hazardous task or green-tobacco-sickness symptoms;
//  2. child_labour: working and aged 5-12; 13-14 over 15 h a week, over 3 h a
//     day or in school hours; 15-17 over 40 h a week;
//  3. light_work: working, aged 13-14 within those limits;
//  4. not_working: everything else, including permitted work at 15-17.
//
// The scoring SQL (internal/postgres/score.go) applies the same rule to every
// child at once; a test holds the two equal.
func ClassifyChild(c Child, r ChildRule) (class, reason string) {
	if c.Age > r.MaxChildAge {
		return NotWorking, fmt.Sprintf("aged %d: not a child under the model", c.Age)
	}
	for _, t := range c.Tasks {
		if slices.Contains(r.HazardousTasks, t) {
			return Hazardous, "hazardous task: " + t
		}
	}
	if r.GTSSymptomsAreHazardous && len(c.GTSSymptoms) > 0 {
		return Hazardous, "green tobacco sickness symptoms"
	}
	if !c.Works || c.Age < r.MinWorkAge {
		return NotWorking, "not working"
	}
	switch {
	case c.Age < r.LightWorkMinAge:
		return ChildLabour, fmt.Sprintf("works at age %d (under %d)", c.Age, r.LightWorkMinAge)
	case c.Age < r.OlderMinAge:
		switch {
		case c.WorkHoursWeek > r.LightWorkMaxHoursWeek:
			return ChildLabour, fmt.Sprintf("%g h a week at age %d (over %g)", c.WorkHoursWeek, c.Age, r.LightWorkMaxHoursWeek)
		case c.WorkHoursDay > r.LightWorkMaxHoursDay:
			return ChildLabour, fmt.Sprintf("%g h a day at age %d (over %g)", c.WorkHoursDay, c.Age, r.LightWorkMaxHoursDay)
		case c.WorksInSchoolHours:
			return ChildLabour, fmt.Sprintf("works in school hours at age %d", c.Age)
		}
		return LightWork, fmt.Sprintf("light work at age %d", c.Age)
	case c.WorkHoursWeek > r.OlderMaxHoursWeek:
		return ChildLabour, fmt.Sprintf("%g h a week at age %d (over %g)", c.WorkHoursWeek, c.Age, r.OlderMaxHoursWeek)
	}
	return NotWorking, fmt.Sprintf("permitted work at age %d", c.Age)
}
