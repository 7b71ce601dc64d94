package risk

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// Unbounded is the Hi of an interval with no upper bound: a withheld cell
// whose constraints do not bound it.
const Unbounded = -1

// Interval is what can be known of a count: Lo <= x <= Hi.
type Interval struct{ Lo, Hi int }

// Width is Hi - Lo, or MaxInt for an unbounded interval.
func (iv Interval) Width() int {
	if iv.Hi == Unbounded {
		return math.MaxInt
	}
	return iv.Hi - iv.Lo
}

func (iv Interval) String() string {
	if iv.Hi == Unbounded {
		return fmt.Sprintf("[%d, inf)", iv.Lo)
	}
	return fmt.Sprintf("[%d, %d]", iv.Lo, iv.Hi)
}

// RoundedInterval is what a count published as r, rounded to the nearest
// multiple of base (halves up), can be: base 5 gives [r-2, r+2].
func RoundedInterval(r, base int) Interval {
	return Interval{Lo: max(0, r-base/2), Hi: r + (base-1)/2}
}

// RoundCount rounds a count to the nearest multiple of base, halves up, so
// that no published count is 1..base-1 away from a multiple: with base 5,
// counts of 1-2 become 0 and 3-4 become 5.
func RoundCount(n, base int) int {
	if base <= 1 {
		return n
	}
	return (n + base/2) / base * base
}

// DisclosureRule says when an attacker's interval for a count gives too
// much away.
type DisclosureRule struct {
	// MinWidth is the narrowest interval allowed for a count known to be
	// non-zero: [lo, lo+MinWidth] at least.
	MinWidth int
	// SmallMax is the largest small count: an interval inside [1, SmallMax]
	// tells that a group of 1..SmallMax children or households exists.
	SmallMax int
}

// Sensitive reports whether a count needs protecting: a withheld one, or a
// small one (1..SmallMax) whatever is published of it. A large published
// count known exactly singles nobody out.
func (r DisclosureRule) Sensitive(truth int, withheld bool) bool {
	return withheld || (truth >= 1 && truth <= r.SmallMax)
}

// Safe reports whether an interval protects a count. An interval that
// holds zero cannot single anyone out: the attacker cannot tell a count of
// 1 from none. Otherwise a sensitive count's interval must be at least
// MinWidth wide and reach above SmallMax.
func (r DisclosureRule) Safe(iv Interval, sensitive bool) bool {
	if !sensitive || iv.Lo <= 0 || iv.Hi == Unbounded {
		return true
	}
	return iv.Hi-iv.Lo >= r.MinWidth && iv.Hi > r.SmallMax
}

// CountTable is a table of counts over a hierarchy of areas, as published:
// in every area the Parts add up to Total (when Total is set), and every
// measure of a parent area is the sum of its children's. Known says what is
// published of each cell: [r-2, r+2] for a count rounded to 5, [n, n] for
// an exact one, [0, Unbounded] for a withheld one.
type CountTable struct {
	Parent map[string]string // every area; "" for a root
	Parts  []string
	Total  string // "" when the parts are independent measures
	True   map[Cell]int
	Known  map[Cell]Interval
}

// Intervals returns, for every cell, the range of values it can take in any
// table that agrees with everything published: the linear-programming
// bounds an attacker gets by combining every row and column at once. The
// table's constraints form a network (each class's counts flow down the
// area tree, meet in each leaf's row and flow back up as its totals), so
// each bound is a maximum flow in the residual network of the true table
// rather than a general LP, and integral. Bounds are exact up to limit:
// an interval that reaches limit or more past the true value on a side
// reports Hi (or Lo) limit away from it, which is enough to decide Safe
// when limit exceeds both MinWidth and SmallMax.
func (t *CountTable) Intervals(limit int) (map[Cell]Interval, error) {
	// Trees of different roots share no cell: nothing is published above
	// the roots (docs/methodology.md, "What is shared above a kabupaten"),
	// so a cycle of changes through the hub that joins them is two cycles,
	// one in each tree. Each tree is its own network, and the searches of
	// one never walk another: the audit's cost per area does not grow with
	// the number of trees.
	trees, children, err := forest(t.Parent)
	if err != nil {
		return nil, err
	}
	results := make([]map[Cell]Interval, len(trees))
	errs := make([]error, len(trees))
	parallel(len(trees), func(i int) { results[i], errs[i] = t.treeIntervals(trees[i], children, limit) })
	out := make(map[Cell]Interval, len(t.True))
	for i := range trees {
		if errs[i] != nil {
			return nil, errs[i]
		}
		for c, iv := range results[i] {
			out[c] = iv
		}
	}
	return out, nil
}

// forest splits a hierarchy (each area's parent, "" for a root) into its
// roots' trees: the areas of each, roots and areas sorted by name, and each
// area's children. An area whose parent is not in the hierarchy, or that
// hangs from no root (its parents form a cycle), is an error.
func forest(parent map[string]string) (trees [][]string, children map[string][]string, err error) {
	children = map[string][]string{}
	var roots []string
	for a, p := range parent {
		if p == "" {
			roots = append(roots, a)
			continue
		}
		if _, ok := parent[p]; !ok {
			return nil, nil, fmt.Errorf("area %s: parent %s is not in the table", a, p)
		}
		children[p] = append(children[p], a)
	}
	sort.Strings(roots)
	seen := 0
	for _, r := range roots {
		tree := []string{r}
		for k := 0; k < len(tree); k++ {
			tree = append(tree, children[tree[k]]...)
		}
		sort.Strings(tree)
		trees = append(trees, tree)
		seen += len(tree)
	}
	if seen != len(parent) {
		return nil, nil, fmt.Errorf("%d areas hang from no root: their parents form a cycle", len(parent)-seen)
	}
	return trees, children, nil
}

// parallel calls f(0) ... f(n-1) on as many goroutines as there are
// processors.
func parallel(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// treeIntervals is Intervals over one root's tree (areas).
func (t *CountTable) treeIntervals(areas []string, children map[string][]string, limit int) (map[Cell]Interval, error) {
	n := newFlowNet()
	node := map[string]int{}
	id := func(kind, a, m string) int {
		k := kind + "\x00" + a + "\x00" + m
		if v, ok := node[k]; ok {
			return v
		}
		v := n.addNode()
		node[k] = v
		return v
	}
	const hub = 0
	// partNode is where the flow of part m into area a goes: its own node
	// when it has children, its row node when it is a leaf of a table with
	// totals, the hub otherwise.
	partNode := func(a, m string) int {
		switch {
		case len(children[a]) > 0:
			return id("part", a, m)
		case t.Total != "":
			return id("row", a, "")
		}
		return hub
	}
	arcs := map[Cell]int{}
	add := func(c Cell, from, to int) error {
		v, ok := t.True[c]
		if !ok {
			return fmt.Errorf("cell %s/%s has no true value", c.Area, c.Measure)
		}
		k, ok := t.Known[c]
		if !ok {
			k = Interval{0, Unbounded}
		}
		if v < k.Lo || (k.Hi != Unbounded && v > k.Hi) {
			return fmt.Errorf("cell %s/%s: true value %d outside its published interval %s", c.Area, c.Measure, v, k)
		}
		arcs[c] = n.addArc(from, to, v, k)
		return nil
	}
	for _, a := range areas {
		p := t.Parent[a]
		for _, m := range t.Parts {
			from := hub
			if p != "" {
				from = id("part", p, m)
			}
			if err := add(Cell{a, m}, from, partNode(a, m)); err != nil {
				return nil, err
			}
		}
		if t.Total == "" {
			continue
		}
		from := id("total", a, "")
		if len(children[a]) == 0 {
			from = id("row", a, "")
		}
		to := hub
		if p != "" {
			to = id("total", p, "")
		}
		if err := add(Cell{a, t.Total}, from, to); err != nil {
			return nil, err
		}
	}
	out := make(map[Cell]Interval, len(arcs))
	for c, e := range arcs {
		out[c] = n.interval(e, limit)
	}
	return out, nil
}

// flowNet is a circulation with lower and upper bounds on its arcs, held as
// its residual network around a feasible flow (the true table).
type flowNet struct {
	nodes int
	to    []int // per residual arc; arc i's reverse is i^1
	cap   []int // residual capacity
	adj   [][]int
	flow  []int      // per table arc (even residual arcs / 2): the true value
	known []Interval // per table arc
	// scratch for one search
	prev    []int
	seen    []int
	stamp   int
	changed []int
	saved   []int
	blocked int
}

const inf = math.MaxInt32

func newFlowNet() *flowNet { return &flowNet{nodes: 1, adj: [][]int{nil}} }

func (n *flowNet) addNode() int {
	n.adj = append(n.adj, nil)
	n.nodes++
	return n.nodes - 1
}

// addArc adds an arc carrying flow f within k, and returns its index.
func (n *flowNet) addArc(from, to, f int, k Interval) int {
	up := inf
	if k.Hi != Unbounded {
		up = k.Hi - f
	}
	i := len(n.to)
	n.to = append(n.to, to, from)
	n.cap = append(n.cap, up, f-k.Lo)
	n.adj[from] = append(n.adj[from], i)
	n.adj[to] = append(n.adj[to], i+1)
	n.flow = append(n.flow, f)
	n.known = append(n.known, k)
	return i
}

// interval returns the bounds of arc e's flow over all feasible circulations.
func (n *flowNet) interval(e, limit int) Interval {
	f, k := n.flow[e/2], n.known[e/2]
	from, to := n.to[e+1], n.to[e]
	// More flow on e needs as much to come back from its head to its tail
	// by other arcs; less needs as much to go the other way round.
	// A search never needs to push more than the arc's own published
	// interval leaves room for: a count at the top of its rounding interval
	// needs no search upward at all.
	up := n.maxFlow(to, from, e, min(limit, n.cap[e]))
	down := n.maxFlow(from, to, e, min(limit, n.cap[e+1]))
	iv := Interval{Lo: f - down, Hi: f + up}
	if k.Hi == Unbounded && up >= limit {
		iv.Hi = Unbounded
	}
	return iv
}

// maxFlow pushes up to limit units from s to t in the residual network
// without using arc e, by shortest augmenting paths, and undoes it.
func (n *flowNet) maxFlow(s, t, e, limit int) int {
	if len(n.prev) < n.nodes {
		n.prev, n.seen = make([]int, n.nodes), make([]int, n.nodes)
	}
	n.blocked = e
	total := 0
	queue := make([]int, 0, 64)
	for total < limit {
		n.stamp++
		queue = append(queue[:0], s)
		n.seen[s] = n.stamp
		found := false
		for len(queue) > 0 && !found {
			u := queue[0]
			queue = queue[1:]
			for _, a := range n.adj[u] {
				if a>>1 == e>>1 || n.cap[a] <= 0 {
					continue
				}
				v := n.to[a]
				if n.seen[v] == n.stamp {
					continue
				}
				n.seen[v], n.prev[v] = n.stamp, a
				if v == t {
					found = true
					break
				}
				queue = append(queue, v)
			}
		}
		if !found {
			break
		}
		push := limit - total
		for v := t; v != s; v = n.to[n.prev[v]^1] {
			push = min(push, n.cap[n.prev[v]])
		}
		for v := t; v != s; v = n.to[n.prev[v]^1] {
			a := n.prev[v]
			n.changed = append(n.changed, a, a^1)
			n.saved = append(n.saved, n.cap[a], n.cap[a^1])
			n.cap[a] -= push
			n.cap[a^1] += push
		}
		total += push
	}
	for i := len(n.changed) - 1; i >= 0; i-- {
		n.cap[n.changed[i]] = n.saved[i]
	}
	n.changed, n.saved = n.changed[:0], n.saved[:0]
	return total
}
