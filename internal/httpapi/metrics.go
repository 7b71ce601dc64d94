package httpapi

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// metrics holds request counts and latency histograms by route and status,
// written out in the Prometheus text format.
type metrics struct {
	mu      sync.Mutex
	series  map[seriesKey]*histogram
	started time.Time
}

type seriesKey struct {
	method, route string
	status        int
}

var buckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

func newMetrics() *metrics { return &metrics{series: map[seriesKey]*histogram{}, started: time.Now()} }

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := seriesKey{method, route, status}
	h := m.series[k]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(buckets))}
		m.series[k] = h
	}
	sec := d.Seconds()
	for i, b := range buckets {
		if sec <= b {
			h.counts[i]++
			break
		}
	}
	h.count++
	h.sum += sec
}

func (m *metrics) handler(db *postgres.DB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		m.mu.Lock()
		keys := make([]seriesKey, 0, len(m.series))
		for k := range m.series {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, c := keys[i], keys[j]
			if a.route != c.route {
				return a.route < c.route
			}
			if a.method != c.method {
				return a.method < c.method
			}
			return a.status < c.status
		})
		b.WriteString("# HELP riskmap_http_requests_total HTTP requests by method, route and status.\n# TYPE riskmap_http_requests_total counter\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "riskmap_http_requests_total{method=%q,route=%q,status=\"%d\"} %d\n", k.method, k.route, k.status, m.series[k].count)
		}
		b.WriteString("# HELP riskmap_http_request_duration_seconds HTTP request latency.\n# TYPE riskmap_http_request_duration_seconds histogram\n")
		for _, k := range keys {
			h := m.series[k]
			labels := fmt.Sprintf("method=%q,route=%q,status=\"%d\"", k.method, k.route, k.status)
			var cum uint64
			for i, le := range buckets {
				cum += h.counts[i]
				fmt.Fprintf(&b, "riskmap_http_request_duration_seconds_bucket{%s,le=\"%g\"} %d\n", labels, le, cum)
			}
			fmt.Fprintf(&b, "riskmap_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, h.count)
			fmt.Fprintf(&b, "riskmap_http_request_duration_seconds_sum{%s} %g\n", labels, h.sum)
			fmt.Fprintf(&b, "riskmap_http_request_duration_seconds_count{%s} %d\n", labels, h.count)
		}
		m.mu.Unlock()
		st := db.Pool.Stat()
		for _, g := range []struct {
			name, help string
			v          int64
		}{
			{"riskmap_db_pool_total_conns", "connections in the pool", int64(st.TotalConns())},
			{"riskmap_db_pool_acquired_conns", "connections in use", int64(st.AcquiredConns())},
			{"riskmap_db_pool_idle_conns", "idle connections", int64(st.IdleConns())},
			{"riskmap_db_pool_max_conns", "the pool's maximum", int64(st.MaxConns())},
			{"riskmap_db_pool_acquire_total", "connections acquired since start", st.AcquireCount()},
			{"riskmap_db_pool_empty_acquire_total", "acquires that had to wait for a connection", st.EmptyAcquireCount()},
		} {
			fmt.Fprintf(&b, "# HELP %s The database pool's %s.\n# TYPE %s gauge\n%s %d\n", g.name, g.help, g.name, g.name, g.v)
		}
		fmt.Fprintf(&b, "# HELP riskmap_uptime_seconds Seconds since the server started.\n# TYPE riskmap_uptime_seconds gauge\nriskmap_uptime_seconds %g\n", time.Since(m.started).Seconds())
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte(b.String()))
	}
}
