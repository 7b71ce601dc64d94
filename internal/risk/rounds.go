package risk

import (
	"math"

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
}

// PrevalenceChange returns the change from x1 of n1 to x2 of n2 (published,
// rounded counts) at the level (e.g. 0.9), each round's binomial variance
// inflated by its design effect. The rounds are treated as independent:
// the same households surveyed twice make the true variance of the change
// smaller, so the interval errs wide (a change called significant is one).
// ok is false when either round has no children.
func PrevalenceChange(x1, n1, deff1, x2, n2, deff2, level float64) (Change, bool) {
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
	se := math.Sqrt(v(x1, n1, deff1) + v(x2, n2, deff2))
	z := distuv.UnitNormal.Quantile(0.5 + level/2)
	d := p2 - p1
	c := Change{Diff: d, Lo: d - z*se, Hi: d + z*se}
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
