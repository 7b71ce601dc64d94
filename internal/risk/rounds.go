package risk

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// ClusterSums are the sums over a round's households (the clusters) that
// give the design effect of its child-labour prevalence: y children in
// child labour of n children aged 5-17 in each household.
type ClusterSums struct {
	Households        int
	Y, N, YY, YN, NN  float64
	HouseholdsWithKid int
}

// DesignEffect is the variance of the prevalence with children clustered
// in households (the linearised ratio estimator, households as primary
// units) over the binomial variance that treats the children as
// independent; at least 1. Children of one household work, or do not,
// together, so a round's prevalence is less certain than its child count
// suggests. It is one figure for the whole round, from every household,
// and says nothing about any one area.
func (s ClusterSums) DesignEffect() float64 {
	m := float64(s.HouseholdsWithKid)
	if m < 2 || s.N == 0 {
		return 1
	}
	p := s.Y / s.N
	if p <= 0 || p >= 1 {
		return 1
	}
	resid := s.YY - 2*p*s.YN + p*p*s.NN // sum of (y_i - p n_i)^2
	vCluster := m / (m - 1) * resid / (s.N * s.N)
	vBinom := p * (1 - p) / s.N
	return math.Max(1, vCluster/vBinom)
}

// Change is the change of an area's prevalence between two rounds, from
// the published counts of each, with its interval.
type Change struct {
	Diff, Lo, Hi float64
	// Significant: the interval excludes zero, so the change exceeds its
	// uncertainty at the model's level.
	Significant bool
	// DesignEffect is the change's variance over the variance it would
	// have were the rounds independent samples: 1 without a panel, below 1
	// when the same children were surveyed in both.
	DesignEffect float64
}

// PanelVillage is one village's children surveyed in both of two rounds
// (the same household identity and person, aged within the child rule's
// ages in both): how many pairs, how many were in child labour in the
// first round, in the second, and in both.
type PanelVillage struct {
	Pairs, Before, After, Both float64
}

// Panel is what two rounds share, as one figure per round (never per
// area): the share of the later round's children who were surveyed in
// the earlier one too, and the correlation of a child's status between
// the rounds within a village.
type Panel struct {
	Pairs       int
	Overlap     float64 // pairs / children of the later round, rounded to 0.05
	Correlation float64 // within-village correlation, rounded to 0.05, in [0, 0.95]
}

// MinPanelPairs is the fewest pairs a panel needs: below it the
// correlation is too uncertain (and too close to a few children's own
// statuses) to use, and changes are computed as from independent rounds.
const MinPanelPairs = 100

// to05 rounds to 0.05 and prints so (0.6, not 0.6000000000000001).
func to05(x float64) float64 { return math.Round(math.Round(x*20)*5) / 100 }

// PanelOf pools the pairs of every village into a Panel: the correlation
// is the within-village covariance of the paired statuses over the
// within-village variances (each village's own means removed, so a
// village with much child labour in both rounds does not count as
// persistence), with the degrees of freedom the village means used. ok is
// false under MinPanelPairs pairs or when either round's statuses do not
// vary within villages.
func PanelOf(villages []PanelVillage, childrenAfter float64) (Panel, bool) {
	var pairs, df, c11, c22, c12 float64
	for _, v := range villages {
		if v.Pairs <= 0 {
			continue
		}
		pairs += v.Pairs
		df += v.Pairs - 1
		// statuses are 0/1: sum y^2 = sum y
		c11 += v.Before - v.Before*v.Before/v.Pairs
		c22 += v.After - v.After*v.After/v.Pairs
		c12 += v.Both - v.Before*v.After/v.Pairs
	}
	if pairs < MinPanelPairs || df <= 0 || c11 <= 0 || c22 <= 0 || childrenAfter <= 0 {
		return Panel{Pairs: int(pairs)}, false
	}
	r := math.Min(math.Max(c12/math.Sqrt(c11*c22), 0), 0.95)
	return Panel{
		Pairs:       int(pairs),
		Overlap:     to05(math.Min(pairs/childrenAfter, 1)),
		Correlation: to05(r),
	}, true
}

// PrevalenceChange returns the change from x1 of n1 to x2 of n2 (published,
// rounded counts) at the level (e.g. 0.9), each round's binomial variance
// inflated by its design effect, with the rounds as independent samples.
// ok is false when either round has no children.
func PrevalenceChange(x1, n1, deff1, x2, n2, deff2, level float64) (Change, bool) {
	return PanelChange(x1, n1, deff1, x2, n2, deff2, Panel{}, 0, level)
}

// PanelChange is PrevalenceChange for rounds that share children: the
// area's paired children are taken as the round's overlap of its later
// count (at most the earlier count), and their statuses as correlated by
// the panel's correlation, so the change's variance is
// V1 + V2 - 2 m r sqrt(deff1 deff2 p1 q1 p2 q2) / (n1 n2). Every input is
// a published count or a figure of the whole round, so anyone can
// compute it again. A zero Panel gives independent rounds.
//
// base is the rounding base of the published counts (0: exact counts).
// Rounding adds an error of up to base/2 to each count, independent
// between rounds, of variance base^2/12: for the prevalence (x the sum of
// two rounded counts, n one) (2 + p^2) base^2 / 12 / n^2, which the
// interval adds. Without it, in the simulation of EvaluatePanel, a
// nominal 90% interval covered 80% of true changes in villages of 40
// children.
func PanelChange(x1, n1, deff1, x2, n2, deff2 float64, panel Panel, base, level float64) (Change, bool) {
	if n1 <= 0 || n2 <= 0 {
		return Change{}, false
	}
	p1, p2 := math.Min(x1, n1)/n1, math.Min(x2, n2)/n2
	// A continuity-corrected variance: p(1-p)/n is 0 at p = 0, which would
	// call any change from a round with no child labour certain.
	v := func(x, n, deff float64) float64 {
		p := (x + 0.5) / (n + 1)
		return math.Max(deff, 1) * p * (1 - p) / n
	}
	v1, v2 := v(x1, n1, deff1), v(x2, n2, deff2)
	cov := 0.0
	if panel.Overlap > 0 && panel.Correlation > 0 {
		m := math.Min(panel.Overlap*n2, n1)
		// v is deff p q / n: the paired part's covariance at the same design
		cov = m * panel.Correlation * math.Sqrt(v1*n1*v2*n2) / (n1 * n2)
	}
	rounding := func(x, n float64) float64 {
		p := math.Min(x, n) / n
		return (2 + p*p) * base * base / 12 / (n * n)
	}
	r1, r2 := rounding(x1, n1), rounding(x2, n2)
	se := math.Sqrt(math.Max(v1+v2-2*cov, 0) + r1 + r2)
	z := distuv.UnitNormal.Quantile(0.5 + level/2)
	d := p2 - p1
	c := Change{Diff: d, Lo: d - z*se, Hi: d + z*se, DesignEffect: (v1 + v2 - 2*cov + r1 + r2) / (v1 + v2 + r1 + r2)}
	c.Significant = c.Lo > 0 || c.Hi < 0
	return c, true
}

// PublishedLabour returns an area's published count of children in child
// labour (hazardous + child_labour) and of children: the inputs of its
// prevalence. ok is false when any of the three is withheld or there are
// no children.
func PublishedLabour(p PublishedArea) (x, n float64, ok bool) {
	hz, cl, ch := p.Values["hazardous"], p.Values["child_labour"], p.Values["children"]
	if hz == nil || cl == nil || ch == nil || *ch <= 0 {
		return 0, 0, false
	}
	return math.Min(float64(*hz+*cl), float64(*ch)), float64(*ch), true
}

// PrevalenceInterval is x in n with its Jeffreys interval at the level, as
// area_public publishes prevalence.
func PrevalenceInterval(x, n, level float64) (p, lo, hi float64) {
	lo, hi = jeffreys(x, n, level)
	return x / n, lo, hi
}

// PanelAccuracy is how well one change estimator does in EvaluatePanel.
type PanelAccuracy struct {
	Method        string  // "independent" or "panel"
	Coverage      float64 // share of intervals holding the true change
	FalseChange   float64 // villages with no true change called significant
	Power         float64 // villages whose prevalence truly fell by Fall seen falling
	Width         float64 // mean interval width, in prevalence points
	DesignEffect  float64 // mean variance ratio to independent rounds
	Overlap, Corr float64 // the panel's figures, on average
}

// PanelOptions set up EvaluatePanel's two-round survey.
type PanelOptions struct {
	Replications int
	Villages     int
	Children     int     // mean children per village in the first round
	Overlap      float64 // share of the second round's children surveyed in the first
	Persistence  float64 // true within-village correlation of a child's status between rounds
	Fall         float64 // the fall in prevalence of half the villages (the other half: none)
	Level        float64
	Seed         uint64
}

// EvaluatePanel simulates a baseline and a follow-up of the same villages:
// each village's first-round prevalence between 0.05 and 0.35, half the
// villages falling by Fall, Overlap of the follow-up's children the
// baseline's children again with their status correlated by Persistence,
// the rest new; counts rounded to 5 as published. It scores the change's
// interval from independent rounds (PrevalenceChange) and from the panel
// (PanelChange with PanelOf over the simulated pairs) against the truth.
func EvaluatePanel(o PanelOptions) []PanelAccuracy {
	rng := rand.New(rand.NewPCG(o.Seed, 0x70616e6c))
	out := []PanelAccuracy{{Method: "independent"}, {Method: "panel"}}
	var n0, n1, nAll float64
	for rep := 0; rep < o.Replications; rep++ {
		type village struct{ x1, n1, x2, n2, truth float64 }
		vs := make([]village, o.Villages)
		pv := make([]PanelVillage, o.Villages)
		var after float64
		for i := range vs {
			p1 := 0.05 + 0.3*rng.Float64()
			p2 := p1
			if i%2 == 1 {
				p2 = math.Max(p1-o.Fall, 0.01)
			}
			n := max(5, int(float64(o.Children)*(0.5+rng.Float64())))
			// a pair's joint law: P(both) = p1 p2 + r sqrt(p1 q1 p2 q2),
			// at most min(p1, p2)
			both := math.Min(p1*p2+o.Persistence*math.Sqrt(p1*(1-p1)*p2*(1-p2)), math.Min(p1, p2))
			stay, enter := both/p1, (p2-both)/(1-p1)
			var v village
			v.truth = p2 - p1
			first := make([]bool, n)
			for c := range first {
				first[c] = rng.Float64() < p1
				v.n1++
				if first[c] {
					v.x1++
				}
			}
			paired := int(math.Round(o.Overlap * float64(n)))
			for c := 0; c < n; c++ { // the follow-up: as many children, Overlap of them the same
				var y bool
				if c < paired {
					if first[c] {
						y = rng.Float64() < stay
					} else {
						y = rng.Float64() < enter
					}
					pv[i].Pairs++
					if first[c] {
						pv[i].Before++
					}
					if y {
						pv[i].After++
					}
					if first[c] && y {
						pv[i].Both++
					}
				} else {
					y = rng.Float64() < p2
				}
				v.n2++
				if y {
					v.x2++
				}
			}
			after += v.n2
			vs[i] = v
		}
		panel, ok := PanelOf(pv, after)
		if !ok {
			panel = Panel{}
		}
		out[1].Overlap += panel.Overlap
		out[1].Corr += panel.Correlation
		for _, v := range vs {
			// published as two rounded counts (hazardous and other child
			// labour), as area_public publishes them, and a rounded total
			r5 := func(x float64) float64 { return RoundTo(x, 5) }
			split := func(x float64) float64 {
				h := 0.0
				for k := 0; k < int(x); k++ {
					if rng.Float64() < 0.5 {
						h++
					}
				}
				return r5(h) + r5(x-h)
			}
			x1, nn1, x2, nn2 := split(v.x1), math.Max(r5(v.n1), 5), split(v.x2), math.Max(r5(v.n2), 5)
			for m, pn := range []Panel{{}, panel} {
				c, ok := PanelChange(x1, nn1, 1, x2, nn2, 1, pn, 5, o.Level)
				if !ok {
					continue
				}
				a := &out[m]
				if v.truth >= c.Lo && v.truth <= c.Hi {
					a.Coverage++
				}
				a.Width += c.Hi - c.Lo
				a.DesignEffect += c.DesignEffect
				if v.truth == 0 && c.Significant {
					a.FalseChange++
				}
				if v.truth < 0 && c.Significant && c.Diff < 0 {
					a.Power++
				}
			}
			nAll++
			if v.truth == 0 {
				n0++
			} else {
				n1++
			}
		}
	}
	for m := range out {
		a := &out[m]
		a.Coverage /= nAll
		a.Width /= nAll
		a.DesignEffect /= nAll
		a.FalseChange /= n0
		a.Power /= n1
		a.Overlap /= float64(o.Replications)
		a.Corr /= float64(o.Replications)
	}
	return out
}
