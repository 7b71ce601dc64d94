package risk

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestGaussHermite(t *testing.T) {
	var w0, w2 float64
	for k := range ghX {
		w0 += ghW[k]
		w2 += ghW[k] * ghX[k] * ghX[k]
	}
	if math.Abs(w0-math.SqrtPi) > 1e-10 || math.Abs(w2-math.SqrtPi/2) > 1e-10 {
		t.Fatalf("sum w = %v (want sqrt pi), sum w x^2 = %v (want sqrt pi / 2)", w0, w2)
	}
}

func TestPlanSurvey(t *testing.T) {
	vs := []PlanVillage{
		{"far-top", 100, 80, 78, 82},     // surely in
		{"edge-wide", 12, 61, 50, 70},    // on the edge, little known
		{"edge-narrow", 300, 60, 58, 62}, // on the edge, well known
		{"mid", 20, 59, 52, 66},
		{"far-low", 15, 20, 10, 30}, // surely out
		{"none", 0, 58, 40, 75},     // never surveyed: out of the plan
	}
	p := PlanSurvey(vs, PlanOptions{Households: 200, Top: 2, Step: 10, Level: 0.9})
	got := map[string]int{}
	for _, it := range p.Items {
		got[it.Code] = it.Add
	}
	t.Logf("%+v", p)
	if p.Spent != 200 || !(p.After < p.Now) || !(p.After <= p.Uniform) {
		t.Errorf("spent %d; U now %.3f after %.3f uniform %.3f", p.Spent, p.Now, p.After, p.Uniform)
	}
	if got["far-top"] != 0 || got["far-low"] != 0 || got["none"] != 0 {
		t.Errorf("settled or unsurveyed villages got households: %v", got)
	}
	if got["edge-wide"] <= got["edge-narrow"] {
		t.Errorf("the little-known village on the edge got %d, the well-known %d", got["edge-wide"], got["edge-narrow"])
	}
}

// TestPlanBeatsUniform simulates the decision the plan is for, in a normal
// model: true village scores, surveys of very unequal sizes, posteriors
// and their 90% intervals; 2,000 more households spent by PlanSurvey or
// spread evenly; the new households surveyed; the top 10 ranked again.
// The plan finds more of the truly worst 10 than the even spread.
func TestPlanBeatsUniform(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	const villages, k, budget, reps = 300, 10, 2000, 150
	const tau, within = 8.0, 30.0 // between-village sd of scores; sd of one household's score
	var planP, uniP, nowP float64
	for rep := 0; rep < reps; rep++ {
		truth := make([]float64, villages)
		n := make([]int, villages)
		sum := make([]float64, villages) // sum of household scores surveyed
		for i := range truth {
			truth[i] = 50 + rng.NormFloat64()*tau
			n[i] = 1 + int(math.Exp(rng.NormFloat64()*1.2)*8)
			for range n[i] {
				sum[i] += truth[i] + rng.NormFloat64()*within
			}
		}
		post := func(s float64, m int) (float64, float64) {
			v := 1 / (1/(tau*tau) + float64(m)/(within*within))
			return v * (50/(tau*tau) + s/(within*within)), math.Sqrt(v)
		}
		vs := make([]PlanVillage, villages)
		for i := range vs {
			m, s := post(sum[i], n[i])
			vs[i] = PlanVillage{Code: string(rune(i)), Households: n[i], Score: m, Lo: m - 1.645*s, Hi: m + 1.645*s}
		}
		plan := PlanSurvey(vs, PlanOptions{Households: budget, Top: k, Step: 10, Level: 0.9})
		add := map[string]int{}
		for _, it := range plan.Items {
			add[it.Code] = it.Add
		}
		precision := func(extra func(i int) int) float64 {
			est := make([]float64, villages)
			for i := range est {
				a := extra(i)
				s := sum[i]
				for range a {
					s += truth[i] + rng.NormFloat64()*within
				}
				est[i], _ = post(s, n[i]+a)
			}
			return overlapTop(truth, est, k)
		}
		nowP += precision(func(int) int { return 0 })
		planP += precision(func(i int) int { return add[vs[i].Code] })
		uniP += precision(func(int) int { return budget / villages })
	}
	nowP, planP, uniP = nowP/reps, planP/reps, uniP/reps
	t.Logf("precision@%d: before %.3f; after %d households by the plan %.3f, spread evenly %.3f", k, nowP, budget, planP, uniP)
	if planP <= uniP {
		t.Errorf("the plan (%.3f) does not beat the even spread (%.3f)", planP, uniP)
	}
}

// overlapTop is the share of the truly top k among the estimated top k.
func overlapTop(truth, est []float64, k int) float64 {
	top := func(x []float64) map[int]bool {
		idx := make([]int, len(x))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return x[idx[a]] > x[idx[b]] })
		out := map[int]bool{}
		for _, i := range idx[:k] {
			out[i] = true
		}
		return out
	}
	tt, et := top(truth), top(est)
	hit := 0
	for i := range et {
		if tt[i] {
			hit++
		}
	}
	return float64(hit) / float64(k)
}
