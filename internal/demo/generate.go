package demo

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
)

// Options say how much to generate.
type Options struct {
	Seed       uint64
	Households int
	Fields     int // tobacco fields; 0 means about one per 8 households
	// FollowUp also writes a follow-up round six months after the
	// baseline (FollowUpHouseholdsFile, FollowUpChildrenFile): most
	// households surveyed again, children six months older, some of the
	// working children out of work and some not.
	FollowUp bool
	// Census, when above 0, surveys the programme's pilot villages
	// (Village.Programme) in full, as the programme did: this many
	// households per km2 of the village (rural East Java has about 230),
	// drawn first; the other households are placed over the other villages
	// in proportion to their area. At 0 the pilots get eight times their
	// area's share instead (the small generated region).
	Census float64
}

// Files are the names Generate writes in its folder.
const (
	VillagesFile    = "villages.geojson"
	HouseholdsFile  = "households.csv"
	ChildrenFile    = "children.csv"
	PlantationsFile = "plantations.geojson"
	CalendarFile    = "calendar.csv"
	InstitutionFile = "institutions.csv"

	FollowUpHouseholdsFile = "followup_households.csv"
	FollowUpChildrenFile   = "followup_children.csv"
	VisitsFile             = "visits.csv"
)

// The demo's rounds: the baseline from March 2026, the follow-up six
// months later, both before the demo's visits.
var (
	BaselineStart = time.Date(2026, 3, 2, 8, 0, 0, 0, time.FixedZone("WIB", 7*3600))
	FollowUpStart = time.Date(2026, 9, 1, 8, 0, 0, 0, time.FixedZone("WIB", 7*3600))
)

// Variety is the tobacco grown in the demo region.
const Variety = "Paiton Voor-Oogst"

// PaitonVoorOogst is the default monthly labour-demand index of Paiton
// Voor-Oogst (../shared/domain.md): seedbeds in April, planting May-June,
// upkeep July, peak harvest, slicing and drying August-September.
var PaitonVoorOogst = [12]float64{0.1, 0.1, 0.1, 0.2, 0.5, 0.6, 0.5, 1.0, 1.0, 0.5, 0.1, 0.1}

var calendarNotes = [12]string{"wet season, other crops", "wet season, other crops", "wet season, other crops",
	"seedbeds", "land preparation, transplanting", "transplanting, upkeep begins", "upkeep: watering, weeding, pesticide, topping",
	"peak harvest, slicing, sun-drying", "peak harvest, slicing, sun-drying", "late harvest", "wet season, other crops", "wet season, other crops"}

// WriteVillages writes villages as a GeoJSON FeatureCollection with the
// properties that riskmap's boundary importer reads by default.
func WriteVillages(dir string, villages []Village) error {
	fc := geojson.NewFeatureCollection()
	for _, v := range villages {
		f := geojson.NewFeature(v.Geom)
		f.Properties = geojson.Properties{"code": v.Code, "name": v.Name, "level": "desa",
			"kecamatan_code": v.KecamatanCode, "kecamatan": ParentNames[v.KecamatanCode],
			"kabupaten_code": v.KecamatanCode[:5], "kabupaten": ParentNames[v.KecamatanCode[:5]], "programme": v.Programme}
		fc.Append(f)
	}
	return writeJSON(filepath.Join(dir, VillagesFile), fc)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Generate writes households, children, tobacco fields and the calendar for
// the given villages into dir, deterministically from opt.Seed.
func Generate(dir string, villages []Village, opt Options) error {
	if len(villages) == 0 {
		return fmt.Errorf("demo: no villages to place households in")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0xdeed))
	if err := writeCalendar(filepath.Join(dir, CalendarFile)); err != nil {
		return err
	}
	if err := writeInstitutions(filepath.Join(dir, InstitutionFile), villages); err != nil {
		return err
	}
	fields := opt.Fields
	if fields == 0 {
		fields = max(opt.Households/8, len(villages))
	}
	if err := writePlantations(filepath.Join(dir, PlantationsFile), villages, fields, rng); err != nil {
		return err
	}
	// Card numbers draw from their own stream, so the baseline's answers
	// are those of every earlier version of the generator.
	hhs, err := writeSurvey(dir, villages, opt.Households, opt.Census, rng, rand.New(rand.NewPCG(opt.Seed, 0xca4d)))
	if err != nil || !opt.FollowUp {
		return err
	}
	return writeFollowUp(dir, villages, hhs, rng)
}

func writeCalendar(path string) error {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"variety", "month", "labour_index", "note"})
	for m, x := range PaitonVoorOogst {
		_ = w.Write([]string{Variety, strconv.Itoa(m + 1), strconv.FormatFloat(x, 'f', 1, 64), calendarNotes[m]})
	}
	w.Flush()
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeInstitutions records what the source article reports: in 2016 the
// programme formed a Gugus Tugas Desa Layak Anak (task force) and a Forum Anak
// in each of the four pilot villages. No village regulation (Perdes) is
// recorded: the article names it as a goal of the advocacy still to come.
func writeInstitutions(path string, villages []Village) error {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"village_code", "kind", "established", "note"})
	for _, v := range villages {
		if v.Programme {
			_ = w.Write([]string{v.Code, "task_force", "2016-01-01", "Gugus Tugas Desa Layak Anak, Program Kesempatan (year only)"})
			_ = w.Write([]string{v.Code, "forum_anak", "2016-01-01", "Forum Anak, Program Kesempatan (year only)"})
		}
	}
	w.Flush()
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// weights returns each village's share of households: by area, with the
// pilots at eight times theirs (census false: the programme surveys its
// own villages first) or none (census: they were surveyed in full).
func weights(villages []Village, census bool) []float64 {
	w := make([]float64, len(villages))
	var sum float64
	for i, v := range villages {
		w[i] = planar.Area(v.Geom)
		if v.Programme && census {
			w[i] = 0
		} else if v.Programme {
			w[i] *= 8
		}
		sum += w[i]
	}
	if sum == 0 {
		return nil
	}
	acc := 0.0
	for i := range w {
		acc += w[i] / sum
		w[i] = acc
	}
	return w
}

func pick(cum []float64, rng *rand.Rand) int {
	x := rng.Float64()
	lo, hi := 0, len(cum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if cum[mid] < x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// pointIn returns a random point inside mp.
func pointIn(mp orb.MultiPolygon, rng *rand.Rand) orb.Point {
	b := mp.Bound()
	for range 10000 {
		p := orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
		if planar.MultiPolygonContains(mp, p) {
			return p
		}
	}
	c, _ := planar.CentroidArea(mp)
	return c
}

func writePlantations(path string, villages []Village, n int, rng *rand.Rand) error {
	fc := geojson.NewFeatureCollection()
	cum := weights(villages, false)
	for i := 0; i < n; i++ {
		v := villages[pick(cum, rng)]
		// Fields cluster where village risk is high: tobacco is the risk.
		if rng.Float64() > 0.3+v.Risk {
			v = villages[pick(cum, rng)]
		}
		var ring orb.Ring
		for try := 0; try < 50; try++ {
			ring = field(pointIn(v.Geom, rng), rng)
			inside := true
			for _, p := range ring {
				inside = inside && planar.MultiPolygonContains(v.Geom, p)
			}
			if inside {
				break
			}
		}
		f := geojson.NewFeature(orb.Polygon{ring})
		planted := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(50))
		f.Properties = geojson.Properties{"id": fmt.Sprintf("F%06d", i+1), "variety": Variety, "planting_date": planted.Format("2006-01-02")}
		fc.Append(f)
	}
	return writeJSON(path, fc)
}

// field is a rotated rectangle of 40-150 m a side centred on c.
func field(c orb.Point, rng *rand.Rand) orb.Ring {
	w, h := 40+rng.Float64()*110, 40+rng.Float64()*110
	a := rng.Float64() * math.Pi
	mx, my := 1/(111320*math.Cos(c[1]*math.Pi/180)), 1/110570.0
	var r orb.Ring
	for _, k := range [][2]float64{{-1, -1}, {1, -1}, {1, 1}, {-1, 1}, {-1, -1}} {
		x, y := k[0]*w/2, k[1]*h/2
		r = append(r, orb.Point{round6(c[0] + (x*math.Cos(a)-y*math.Sin(a))*mx), round6(c[1] + (x*math.Sin(a)+y*math.Cos(a))*my)})
	}
	return r
}

var (
	hhHeader = []string{"start", "end", "consent", "household/village", "household/programme_id", "household/gps", "_household/gps_latitude",
		"_household/gps_longitude", "_household/gps_altitude", "_household/gps_precision", "household/livelihood",
		"household/poverty_programme", "household/caregiver_education", "household/single_parent", "household/members",
		"household/working_adults", "_id", "_uuid", "_submission_time", "_validation_status", "_index"}
	childHeader = []string{"children/age", "children/sex", "children/school_status", "children/harvest_absence_days",
		"children/works", "children/work_hours_week", "children/work_hours_day", "children/work_school_hours",
		"children/tasks", "children/gts_symptoms", "children/disability", "children/special_needs", "children/orphan",
		"_index", "_parent_table_name", "_parent_index", "_submission__id", "_submission__uuid"}
)

// surveyed is a generated household as the follow-up round finds it again.
type surveyed struct {
	v    Village
	p    orb.Point
	card string
	h    household
}

// surveyWriter writes a KoBoToolbox-style export: a households CSV and the
// repeat sheet's children CSV, joined by _index / _parent_index.
type surveyWriter struct {
	hf, cf     *os.File
	hb, cb     *bufio.Writer
	hw, cw     *csv.Writer
	index      int
	childIndex int
}

func newSurveyWriter(dir, households, children string) (*surveyWriter, error) {
	hf, err := os.Create(filepath.Join(dir, households))
	if err != nil {
		return nil, err
	}
	cf, err := os.Create(filepath.Join(dir, children))
	if err != nil {
		hf.Close()
		return nil, err
	}
	w := &surveyWriter{hf: hf, cf: cf, hb: bufio.NewWriterSize(hf, 1<<20), cb: bufio.NewWriterSize(cf, 1<<20)}
	w.hw, w.cw = csv.NewWriter(w.hb), csv.NewWriter(w.cb)
	_ = w.hw.Write(hhHeader)
	_ = w.cw.Write(childHeader)
	return w, nil
}

func (w *surveyWriter) write(s surveyed, start time.Time, rng *rand.Rand) {
	w.index++
	i := w.index
	h := s.h
	end := start.Add(time.Duration(15+rng.IntN(30)) * time.Minute)
	uuid := fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff,
		0x8000|rng.Uint32()&0x3fff, rng.Uint64()&0xffffffffffff)
	lat, lon := strconv.FormatFloat(s.p[1], 'f', 7, 64), strconv.FormatFloat(s.p[0], 'f', 7, 64)
	alt, acc := strconv.Itoa(150+rng.IntN(250)), strconv.Itoa(3+rng.IntN(12))
	_ = w.hw.Write([]string{start.Format(time.RFC3339), end.Format(time.RFC3339), "yes", s.v.Code, s.card,
		lat + " " + lon + " " + alt + " " + acc, lat, lon, alt, acc, strings.Join(h.livelihoods, " "),
		strings.Join(h.poverty, " "), h.education, yesNo(h.singleParent), strconv.Itoa(h.members),
		strconv.Itoa(h.workingAdults), strconv.Itoa(100000 + i), uuid, end.UTC().Format("2006-01-02T15:04:05"), "", strconv.Itoa(i)})
	for _, c := range h.children {
		w.childIndex++
		_ = w.cw.Write([]string{strconv.Itoa(c.age), c.sex, c.school, strconv.Itoa(c.absence), yesNo(c.works),
			num(c.hoursWeek), num(c.hoursDay), yesNo(c.schoolHours), strings.Join(c.tasks, " "),
			strings.Join(c.gts, " "), yesNo(c.disability), yesNo(c.specialNeeds), c.orphan,
			strconv.Itoa(w.childIndex), "kesempatan_household", strconv.Itoa(i), strconv.Itoa(100000 + i), uuid})
	}
}

func (w *surveyWriter) close() error {
	defer w.hf.Close()
	defer w.cf.Close()
	for _, cw := range []*csv.Writer{w.hw, w.cw} {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	for _, b := range []*bufio.Writer{w.hb, w.cb} {
		if err := b.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// writeSurvey writes the baseline round: households.csv and children.csv.
// Three households in four have a programme card number.
func writeSurvey(dir string, villages []Village, n int, census float64, rng, cards *rand.Rand) ([]surveyed, error) {
	w, err := newSurveyWriter(dir, HouseholdsFile, ChildrenFile)
	if err != nil {
		return nil, err
	}
	var full []int // the pilots' households, village by village
	if census > 0 {
		for k, v := range villages {
			if v.Programme {
				for range min(int(math.Round(geo.Area(v.Geom)/1e6*census)), n-len(full)) {
					full = append(full, k)
				}
			}
		}
	}
	cum := weights(villages, census > 0)
	if cum == nil && len(full) < n {
		return nil, fmt.Errorf("demo: %d households to place and no village outside the pilots", n-len(full))
	}
	out := make([]surveyed, 0, n)
	for i := 1; i <= n; i++ {
		var v Village
		if i <= len(full) {
			v = villages[full[i-1]]
		} else {
			v = villages[pick(cum, rng)]
		}
		s := surveyed{v: v, h: newHousehold(v, rng), p: pointIn(v.Geom, rng)}
		if chance(cards, 0.75) {
			s.card = fmt.Sprintf("KSP-%06d", i)
		}
		w.write(s, BaselineStart.Add(time.Duration(rng.IntN(80*24*60))*time.Minute), rng)
		out = append(out, s)
	}
	return out, w.close()
}

// writeFollowUp writes the follow-up round six months on: 88% of the
// households surveyed again (a card number where they had one, a GPS fix a
// few metres off), every child six months older (half of them a year
// older on paper), 55% of the working children out of work, 4% of the
// others newly at work, a few babies born, and new households (4%).
func writeFollowUp(dir string, villages []Village, hhs []surveyed, rng *rand.Rand) error {
	w, err := newSurveyWriter(dir, FollowUpHouseholdsFile, FollowUpChildrenFile)
	if err != nil {
		return err
	}
	start := func() time.Time { return FollowUpStart.Add(time.Duration(rng.IntN(50*24*60)) * time.Minute) }
	for _, s := range hhs {
		if !chance(rng, 0.88) {
			continue
		}
		if s.card == "" && chance(rng, 0.1) {
			s.card = fmt.Sprintf("KSP-%06d", 900000+w.index)
		}
		// Another fix of the same house: a few metres off, in its village.
		if p := (orb.Point{round6(s.p[0] + (rng.Float64()-0.5)*0.00012), round6(s.p[1] + (rng.Float64()-0.5)*0.00012)}); planar.MultiPolygonContains(s.v.Geom, p) {
			s.p = p
		}
		var kids []child
		for _, c := range s.h.children {
			c.age += rng.IntN(2)
			if c.age > 17 {
				continue
			}
			if c.school == "not_school_age" && c.age >= 6 {
				c.school = "enrolled"
			}
			switch {
			case c.works && chance(rng, 0.55):
				c.works, c.hoursWeek, c.hoursDay, c.schoolHours, c.gts = false, 0, 0, false, nil
				c.tasks = nil
				if c.school != "enrolled" && chance(rng, 0.5) {
					c.school = "enrolled"
				}
			case !c.works && c.age >= 5:
				if n := newChild(rng, s.v.Risk); n.works && chance(rng, 0.15) {
					c.works, c.hoursWeek, c.hoursDay, c.schoolHours, c.tasks, c.gts = true, n.hoursWeek, n.hoursDay, n.schoolHours && c.school == "enrolled", n.tasks, n.gts
				}
			}
			if c.school == "enrolled" {
				c.absence = min(c.absence, 10)
			} else {
				c.absence = 0
			}
			kids = append(kids, c)
		}
		if chance(rng, 0.03) {
			kids = append(kids, child{age: 0, sex: []string{"female", "male"}[rng.IntN(2)], school: "not_school_age", orphan: "no"})
		}
		s.h.members = max(s.h.members-len(s.h.children)+len(kids), 1)
		s.h.children = kids
		s.h.workingAdults = min(s.h.workingAdults, s.h.members)
		w.write(s, start(), rng)
	}
	cum := weights(villages, false)
	for i := 0; i < len(hhs)/25; i++ {
		v := villages[pick(cum, rng)]
		w.write(surveyed{v: v, h: newHousehold(v, rng), p: pointIn(v.Geom, rng)}, start(), rng)
	}
	return w.close()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func num(x float64) string {
	if x == 0 {
		return ""
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

type household struct {
	livelihoods, poverty   []string
	education              string
	singleParent           bool
	members, workingAdults int
	children               []child
}

type child struct {
	age, absence             int
	sex, school, orphan      string
	works, schoolHours       bool
	hoursWeek, hoursDay      float64
	tasks, gts               []string
	disability, specialNeeds bool
}

func chance(rng *rand.Rand, p float64) bool { return rng.Float64() < p }

// newHousehold draws one household. The rates are plausible for rural East
// Java tobacco villages, not measured: they exist so the demo map has shape.
func newHousehold(v Village, rng *rand.Rand) household {
	var h household
	tobacco := chance(rng, 0.25+v.Risk*0.4)
	labourer := chance(rng, 0.25+v.Risk*0.4)
	if tobacco {
		h.livelihoods = append(h.livelihoods, "tobacco_grower")
	}
	if labourer {
		h.livelihoods = append(h.livelihoods, "farm_labourer")
	}
	for _, l := range []struct {
		code string
		p    float64
	}{{"tobacco_sharecropper", 0.08}, {"other_farming", 0.25}, {"trader", 0.1}, {"wage_other", 0.15}, {"migrant_remittance", 0.07}} {
		if chance(rng, l.p) {
			h.livelihoods = append(h.livelihoods, l.code)
		}
	}
	if len(h.livelihoods) == 0 {
		h.livelihoods = []string{"other"}
	}
	poor := chance(rng, 0.2+v.Risk*0.5)
	if poor {
		for _, p := range []struct {
			code string
			p    float64
		}{{"dtks", 0.9}, {"pkh", 0.6}, {"bpnt", 0.7}, {"pip", 0.3}} {
			if chance(rng, p.p) {
				h.poverty = append(h.poverty, p.code)
			}
		}
	}
	if len(h.poverty) == 0 {
		h.poverty = []string{"none"}
	}
	edu := rng.Float64()
	switch {
	case edu < 0.1:
		h.education = "none"
	case edu < 0.55:
		h.education = "primary"
	case edu < 0.8:
		h.education = "junior_secondary"
	case edu < 0.95:
		h.education = "senior_secondary"
	default:
		h.education = "higher"
	}
	h.singleParent = chance(rng, 0.1)
	adults := 2
	if h.singleParent {
		adults = 1
	}
	adults += rng.IntN(3) / 2
	kids := []int{0, 1, 1, 2, 2, 2, 3, 3, 4, 5}[rng.IntN(10)]
	h.members = adults + kids
	h.workingAdults = 1 + rng.IntN(adults)
	pressure := v.Risk
	if labourer {
		pressure += 0.15
	}
	if poor {
		pressure += 0.1
	}
	if tobacco {
		pressure += 0.1
	}
	for k := 0; k < kids; k++ {
		h.children = append(h.children, newChild(rng, pressure))
	}
	return h
}

func newChild(rng *rand.Rand, pressure float64) child {
	c := child{age: rng.IntN(18), sex: []string{"female", "male"}[rng.IntN(2)], orphan: "no"}
	switch o := rng.Float64(); {
	case o < 0.02:
		c.orphan = "father"
	case o < 0.03:
		c.orphan = "mother"
	case o < 0.04:
		c.orphan = "both"
	}
	c.disability = chance(rng, 0.03)
	c.specialNeeds = chance(rng, 0.03)
	switch {
	case c.age < 6:
		c.school = "not_school_age"
	case chance(rng, 0.03+float64(max(c.age-12, 0))*0.05*(0.5+pressure)):
		c.school = []string{"dropped_out", "not_enrolled"}[rng.IntN(2)]
	default:
		c.school = "enrolled"
	}
	var p float64
	switch {
	case c.age < 5:
		p = 0
	case c.age <= 12:
		p = 0.08 * pressure
	case c.age <= 14:
		p = 0.45 * pressure
	default:
		p = 0.8 * pressure
	}
	c.works = chance(rng, p)
	if !c.works {
		if c.age >= 8 && chance(rng, 0.3) {
			c.tasks = []string{"household_chores"}
		}
		return c
	}
	days := 3 + rng.IntN(4)
	switch {
	case c.age <= 12:
		c.hoursDay = float64(1 + rng.IntN(3))
	case c.age <= 14:
		c.hoursDay = float64(2 + rng.IntN(3)) // field notes: under 4 h a day
	default:
		c.hoursDay = float64(4 + rng.IntN(6)) // most work 7-9 h days
	}
	c.hoursWeek = c.hoursDay * float64(days)
	c.schoolHours = c.school == "enrolled" && chance(rng, 0.15)
	for _, t := range []struct {
		code string
		p    float64
	}{{"harvest_green_leaf", 0.45}, {"folding_sorting", 0.5}, {"drying", 0.5}, {"carry_heavy", 0.3},
		{"rajang_slicing", 0.15}, {"pesticide", 0.1}, {"planting", 0.3}, {"weeding_watering", 0.4}, {"topping", 0.15},
		{"fertiliser", 0.1}, {"night_work", 0.05}, {"extreme_heat", 0.1}} {
		if chance(rng, t.p*(0.5+float64(c.age)/17)) {
			c.tasks = append(c.tasks, t.code)
		}
	}
	if len(c.tasks) == 0 {
		c.tasks = []string{"folding_sorting"}
	}
	for _, t := range c.tasks {
		if t == "harvest_green_leaf" && chance(rng, 0.35) {
			for _, s := range []string{"nausea", "vomiting", "headache", "dizziness"} {
				if chance(rng, 0.5) {
					c.gts = append(c.gts, s)
				}
			}
		}
	}
	if c.school == "enrolled" {
		c.absence = rng.IntN(int(2 + 20*pressure))
	}
	return c
}
