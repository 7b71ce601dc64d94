package risk

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// Where to survey next (docs/methodology.md, "Where to survey next"). The
// top-K list is uncertain where villages near its edge have wide intervals;
// more households in those villages narrow their intervals most usefully.
// PlanSurvey spends a budget of households where they are expected to
// settle the most top-K memberships.
//
// The measure is U = sum over villages of p(1-p), p a village's
// probability of being in the top K: 0 when every membership is settled,
// at most n/4 when none is. A village's p is approximated as
// P(score > c), c the boundary between the K-th and the (K+1)-th score,
// with the score normal around its estimate (sd from its interval). Adding
// a households to a village of n shrinks its sampling variance by
// n/(n+a); its estimate will move, by the preposterior N(0, s^2 - s'^2),
// and the expected p'(1-p') after is integrated over that move
// (Gauss-Hermite). Villages' terms are separate given c, so spending in
// steps on the largest expected reduction is the greedy optimum of a
// separable, diminishing gain.

// PlanVillage is a ranked village as the plan sees it.
type PlanVillage struct {
	Code          string
	Households    int     // surveyed so far
	Score, Lo, Hi float64 // the ranking's score and its interval at Level
}

// PlanOptions: the households to spend, K, the step (households per
// village at a time, a day's work), and the level of the intervals.
type PlanOptions struct {
	Households, Top, Step int
	Level                 float64
}

// PlanItem is one village's share of the plan.
type PlanItem struct {
	Code                  string
	Households, Add       int
	PTop                  float64 // now
	Uncertainty, Expected float64 // p(1-p) now, and expected after
}

// Plan is an allocation and what it buys.
type Plan struct {
	Items []PlanItem // villages given households, most first
	// U now, expected after the plan, and expected after the same
	// households spread evenly over every ranked village.
	Now, After, Uniform float64
	Spent               int
}

var ghX, ghW = gaussHermite()

// PlanSurvey allocates o.Households among the villages, o.Step at a time.
// Villages with no households surveyed have no sampling variance to shrink
// and are left out (a first survey there is a separate decision).
func PlanSurvey(vs []PlanVillage, o PlanOptions) Plan {
	n := len(vs)
	var plan Plan
	if n == 0 || o.Top < 1 || o.Households < 1 {
		return plan
	}
	step := max(o.Step, 1)
	z := distuv.UnitNormal.Quantile(1 - (1-o.Level)/2)
	scores := make([]float64, n)
	for i, v := range vs {
		scores[i] = v.Score
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(scores)))
	c := scores[min(o.Top, n)-1]
	if o.Top < n {
		c = (scores[o.Top-1] + scores[o.Top]) / 2
	}
	sd := make([]float64, n)
	for i, v := range vs {
		sd[i] = math.Max((v.Hi-v.Lo)/(2*z), 1e-6)
	}
	add := make([]int, n)
	cur := make([]float64, n)
	for i, v := range vs {
		cur[i] = expectedU(v.Score, sd[i], sd[i], c)
		plan.Now += cur[i]
	}
	after := func(i, a int) float64 {
		h := vs[i].Households
		if h <= 0 {
			return cur[i]
		}
		return expectedU(vs[i].Score, sd[i], sd[i]*math.Sqrt(float64(h)/float64(h+a)), c)
	}
	next := make([]float64, n)
	for i := range vs {
		next[i] = after(i, step)
	}
	now := append([]float64(nil), cur...)
	for spent := 0; spent+step <= o.Households; spent += step {
		best, gain := -1, 0.0
		for i := range vs {
			if g := now[i] - next[i]; g > gain {
				best, gain = i, g
			}
		}
		if best < 0 {
			break
		}
		add[best] += step
		now[best] = next[best]
		next[best] = after(best, add[best]+step)
		plan.Spent += step
	}
	each := o.Households / n
	for i := range vs {
		plan.After += now[i]
		plan.Uniform += after(i, each)
		if add[i] > 0 {
			p := 1 - distuv.UnitNormal.CDF((c-vs[i].Score)/sd[i])
			plan.Items = append(plan.Items, PlanItem{Code: vs[i].Code, Households: vs[i].Households, Add: add[i], PTop: p, Uncertainty: cur[i], Expected: now[i]})
		}
	}
	sort.Slice(plan.Items, func(a, b int) bool {
		if plan.Items[a].Add != plan.Items[b].Add {
			return plan.Items[a].Add > plan.Items[b].Add
		}
		return plan.Items[a].Code < plan.Items[b].Code
	})
	return plan
}

// expectedU is E[p'(1-p')] for a village whose score is now N(mu, s^2) and
// will be N(mu', s2^2) after more households, mu' ~ N(mu, s^2 - s2^2).
func expectedU(mu, s, s2, c float64) float64 {
	move := math.Sqrt(math.Max(s*s-s2*s2, 0))
	var u float64
	for k := range ghX {
		m := mu + math.Sqrt2*move*ghX[k]
		p := 1 - distuv.UnitNormal.CDF((c-m)/s2)
		u += ghW[k] * p * (1 - p)
	}
	return u / math.SqrtPi
}

// gaussHermite returns the nodes and weights of 20-point Gauss-Hermite
// quadrature (weight exp(-x^2)), by Newton's method on the Hermite
// polynomials (Numerical Recipes' gauher).
func gaussHermite() ([]float64, []float64) {
	const n = 20
	x, w := make([]float64, n), make([]float64, n)
	pim4 := 1 / math.Pow(math.Pi, 0.25)
	var z float64
	for i := 0; i < (n+1)/2; i++ {
		switch i {
		case 0:
			z = math.Sqrt(float64(2*n+1)) - 1.85575*math.Pow(float64(2*n+1), -0.16667)
		case 1:
			z -= 1.14 * math.Pow(float64(n), 0.426) / z
		case 2:
			z = 1.86*z - 0.86*x[0]
		case 3:
			z = 1.91*z - 0.91*x[1]
		default:
			z = 2*z - x[i-2]
		}
		var pp float64
		for it := 0; it < 100; it++ {
			p1, p2 := pim4, 0.0
			for j := 1; j <= n; j++ {
				p3 := p2
				p2 = p1
				p1 = z*math.Sqrt(2/float64(j))*p2 - math.Sqrt(float64(j-1)/float64(j))*p3
			}
			pp = math.Sqrt(2*float64(n)) * p2
			z1 := z
			z = z1 - p1/pp
			if math.Abs(z-z1) < 1e-14 {
				break
			}
		}
		x[i], x[n-1-i] = z, -z
		w[i] = 2 / (pp * pp)
		w[n-1-i] = w[i]
	}
	return x, w
}
