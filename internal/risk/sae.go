package risk

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// Small-area estimation: villages with few surveyed households borrow
// strength from their neighbours in the hierarchy (docs/methodology.md,
// "Small areas"). Rates (prevalence, shares of households) use beta-binomial
// empirical Bayes; means (the mean household score) use normal-normal
// empirical Bayes. Each area is shrunk toward its group (kecamatan) when the
// group has at least MinGroupAreas areas with data, else toward its parent
// group (kabupaten), else toward all areas.

// RateObs is an area's count of X cases among N (children or households).
type RateObs struct {
	Area   string
	Groups []string // from nearest to widest: kecamatan, kabupaten
	X, N   float64
}

// MeanObs is an area's sample mean Y over N units.
type MeanObs struct {
	Area   string
	Groups []string
	Y, N   float64
}

// Estimate is a shrunk estimate with its credible interval, and the level
// of the hierarchy it was shrunk toward ("kecamatan", "kabupaten", "all"
// by position in Groups, or "" when it had no data).
type Estimate struct {
	Mean, Lo, Hi float64
	Toward       int // index in Groups of the prior's group; len(Groups) for all areas
	Shrinkage    float64
}

// SAEOptions tune the estimators.
type SAEOptions struct {
	MinGroupAreas int     // areas with data a group needs to estimate its own prior
	Level         float64 // credible level of the intervals, e.g. 0.9
}

type prior struct {
	m, a  float64 // mean and between-area variance
	n     int     // areas with data
	total float64 // their summed sample size
}

// priorFor finds the prior of each area: the nearest group with enough
// areas, computed by moments from the areas of that group.
func priorsFor(groups [][]string, fit func(members []int) prior, minAreas int) ([]prior, []int) {
	n := len(groups)
	depth := 0
	for _, g := range groups {
		depth = max(depth, len(g))
	}
	out := make([]prior, n)
	at := make([]int, n)
	done := make([]bool, n)
	for level := 0; level <= depth; level++ {
		members := map[string][]int{}
		for i, g := range groups {
			key := "*"
			if level < len(g) {
				key = g[level]
			}
			members[key] = append(members[key], i)
		}
		keys := make([]string, 0, len(members))
		for k := range members {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ms := members[k]
			p := fit(ms)
			if p.n < minAreas && level < depth {
				continue
			}
			for _, i := range ms {
				if !done[i] {
					out[i], at[i], done[i] = p, level, true
				}
			}
		}
	}
	return out, at
}

// ShrinkRates returns the beta-binomial empirical-Bayes estimate of each
// rate (Kleinman 1973, with the moment estimators of Marshall 1991): the
// prior's mean m is the pooled rate of the area's group, the between-area
// variance A = sum n_i (r_i - m_g)^2 / sum n_i - m(1-m) / nbar (at least
// zero) is pooled over all groups, which a dozen villages each could not
// estimate alone; the prior is Beta(a, b) with a + b = m(1-m)/A - 1 and
// each area's posterior Beta(a + x, b + n - x). The interval adds the
// prior mean's own uncertainty (m(1-m)/sum n_g + A/k_g, times the
// shrinkage squared) to the posterior variance and keeps a Beta shape with
// that mean and variance; an area with no data gets its prior.
func ShrinkRates(obs []RateObs, o SAEOptions) []Estimate {
	groups := make([][]string, len(obs))
	for i, r := range obs {
		groups[i] = r.Groups
	}
	// The spread between areas beyond chance, pooled over every group.
	var ss, tot, cnt, xs float64
	byGroup := map[string][2]float64{}
	for _, r := range obs {
		if r.N > 0 && len(r.Groups) > 0 {
			g := byGroup[r.Groups[0]]
			byGroup[r.Groups[0]] = [2]float64{g[0] + r.X, g[1] + r.N}
		}
	}
	for _, r := range obs {
		if r.N <= 0 {
			continue
		}
		m := r.X / r.N
		if len(r.Groups) > 0 {
			g := byGroup[r.Groups[0]]
			m = g[0] / g[1]
		}
		ss += r.N * (r.X/r.N - m) * (r.X/r.N - m)
		tot, cnt, xs = tot+r.N, cnt+1, xs+r.X
	}
	pooledA := 0.0
	if tot > 0 && cnt > float64(len(byGroup)) {
		// deviations are from each group's own estimated mean: correct for
		// the degrees of freedom that used up (cnt areas, len groups means)
		mm := xs / tot
		df := cnt / (cnt - float64(len(byGroup)))
		pooledA = math.Max(ss/tot*df-mm*(1-mm)/(tot/cnt), 0)
	}
	fit := func(ms []int) prior {
		var x, n, k float64
		for _, i := range ms {
			if obs[i].N > 0 {
				x, n, k = x+obs[i].X, n+obs[i].N, k+1
			}
		}
		if n == 0 {
			return prior{}
		}
		return prior{m: x / n, a: pooledA, n: int(k), total: n}
	}
	priors, at := priorsFor(groups, fit, o.MinGroupAreas)
	out := make([]Estimate, len(obs))
	tail := (1 - o.Level) / 2
	for i, r := range obs {
		p := priors[i]
		s := 1e6 // no spread beyond chance: the prior decides
		if p.a > 0 && p.m > 0 && p.m < 1 {
			s = math.Max(p.m*(1-p.m)/p.a-1, 1e-3)
		}
		a, b := p.m*s, (1-p.m)*s
		mean := (a + r.X) / (a + b + r.N)
		shrink := s / (s + r.N)
		v := mean * (1 - mean) / (a + b + r.N + 1)
		if p.total > 0 {
			v += shrink * shrink * (p.m*(1-p.m)/p.total + p.a/float64(p.n))
		}
		out[i] = Estimate{Mean: mean, Toward: at[i], Shrinkage: shrink}
		out[i].Lo, out[i].Hi = betaInterval(mean, v, tail)
	}
	return out
}

// betaInterval is the equal-tailed interval of the Beta distribution with
// the given mean and variance.
func betaInterval(mean, v, tail float64) (float64, float64) {
	mean = math.Min(math.Max(mean, 1e-9), 1-1e-9)
	v = math.Min(math.Max(v, 1e-12), mean*(1-mean)*0.999)
	s := mean*(1-mean)/v - 1
	d := distuv.Beta{Alpha: mean * s, Beta: (1 - mean) * s}
	return d.Quantile(tail), d.Quantile(1 - tail)
}

// ShrinkMeans returns the normal-normal empirical-Bayes estimate of each
// mean (Morris 1983): the prior's mean mu is the N-weighted mean of the
// group's areas, its between-area variance tau2 = sum N (y - mu)^2 / sum N
// - within / nbar (at least zero); an area's weight on its own mean is
// B = tau2 / (tau2 + within / N). within is the variance of single units
// inside an area (pooled). The interval is normal with the posterior
// variance B within / N plus the prior mean's own uncertainty.
func ShrinkMeans(obs []MeanObs, within float64, o SAEOptions) []Estimate {
	groups := make([][]string, len(obs))
	for i, r := range obs {
		groups[i] = r.Groups
	}
	fit := func(ms []int) prior {
		var sy, n, k float64
		for _, i := range ms {
			if obs[i].N > 0 {
				sy, n, k = sy+obs[i].Y*obs[i].N, n+obs[i].N, k+1
			}
		}
		if n == 0 {
			return prior{}
		}
		mu := sy / n
		var ss float64
		for _, i := range ms {
			if r := obs[i]; r.N > 0 {
				ss += r.N * (r.Y - mu) * (r.Y - mu)
			}
		}
		return prior{m: mu, a: math.Max(ss/n-within/(n/k), 0), n: int(k)}
	}
	priors, at := priorsFor(groups, fit, o.MinGroupAreas)
	z := distuv.UnitNormal.Quantile(1 - (1-o.Level)/2)
	out := make([]Estimate, len(obs))
	for i, r := range obs {
		p := priors[i]
		var b, v float64
		if r.N > 0 {
			se2 := within / r.N
			if p.a+se2 > 0 {
				b = p.a / (p.a + se2)
			}
			v = b * se2
		} else {
			v = p.a
		}
		// the prior mean is itself estimated from the group's areas
		if p.n > 0 {
			v += (1 - b) * (1 - b) * (p.a + within) / float64(p.n)
		}
		mean := p.m + b*(r.Y-p.m)
		out[i] = Estimate{Mean: mean, Lo: mean - z*math.Sqrt(v), Hi: mean + z*math.Sqrt(v), Toward: at[i], Shrinkage: 1 - b}
	}
	return out
}
