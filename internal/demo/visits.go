package demo

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

// VisitCase is what the visit generator knows of a case.
type VisitCase struct {
	ID          int64
	OpenedOn    time.Time
	ProgrammeID string
	Hazardous   bool
	// InLabourLater: whether the latest survey round found the child still
	// in child labour (nil: not surveyed since the case opened).
	InLabourLater *bool
}

var visitHeader = []string{"start", "end", "case_id", "programme_id", "visited_on", "kind", "outcome", "child_working",
	"in_school", "actions", "action_status", "_id", "_uuid", "_submission_time", "_validation_status", "_index"}

// WriteVisits writes a KoBoToolbox CSV export of the case visit form for
// the cases, as staff would have filled it in up to today: one case in
// ten not visited yet, some households not found twice or moved (lost),
// the rest planned and mostly delivered remediation, and most of those a
// six-month follow-up visit that finds the child working as the latest
// survey round did. Deterministic from seed.
func WriteVisits(path string, cases []VisitCase, seed uint64, today time.Time) (int, error) {
	rng := rand.New(rand.NewPCG(seed, 0x715))
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	_ = w.Write(visitHeader)
	n := 0
	write := func(c VisitCase, days int, kind, outcome, working, school, actions, status string) {
		on := c.OpenedOn.AddDate(0, 0, days)
		if on.After(today) {
			return
		}
		n++
		at := time.Date(on.Year(), on.Month(), on.Day(), 9+rng.IntN(7), rng.IntN(60), 0, 0, time.FixedZone("WIB", 7*3600))
		uuid := fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff,
			0x8000|rng.Uint32()&0x3fff, rng.Uint64()&0xffffffffffff)
		_ = w.Write([]string{at.Format(time.RFC3339), at.Add(12 * time.Minute).Format(time.RFC3339), strconv.FormatInt(c.ID, 10),
			c.ProgrammeID, on.Format(time.DateOnly), kind, outcome, working, school, actions, status,
			strconv.Itoa(500000 + n), uuid, at.Add(20 * time.Minute).UTC().Format("2006-01-02T15:04:05"), "", strconv.Itoa(n)})
	}
	for _, c := range cases {
		actions := []string{"school_support", "bridge_class", "awareness", "livelihood"}[rng.IntN(4)]
		if c.Hazardous && chance(rng, 0.5) {
			actions += " referral_health"
		}
		school := func() string { return yesNo(chance(rng, 0.75)) }
		switch r := rng.Float64(); {
		case r < 0.10: // not visited yet: due 30 days after the survey, so overdue
		case r < 0.14:
			write(c, 15+rng.IntN(10), "remediation", "not_found", "", "", "", "")
			write(c, 40+rng.IntN(10), "remediation", "not_found", "", "", "", "")
		case r < 0.16:
			write(c, 20+rng.IntN(10), "remediation", "moved", "", "", "", "")
		default:
			write(c, 14+rng.IntN(14), "remediation", "met", "", school(), actions, "planned")
			if chance(rng, 0.15) {
				break // planned only: due again six months after
			}
			write(c, 45+rng.IntN(25), "remediation", "met", "", school(), actions, "delivered")
			if !chance(rng, 0.8) {
				break
			}
			working := chance(rng, 0.4)
			if c.InLabourLater != nil {
				working = *c.InLabourLater
			}
			write(c, 150+rng.IntN(25), "follow_up", "met", yesNo(working), school(), "", "")
		}
	}
	w.Flush()
	return n, w.Error()
}
