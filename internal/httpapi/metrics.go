package httpapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// metrics are the server's Prometheus metrics, in a registry of its own (a
// test can run many servers in one process).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	filters  *prometheus.CounterVec
	moved    prometheus.Counter
	started  time.Time
	once     sync.Once
	h        http.Handler
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskmap_http_requests_total",
			Help: "HTTP requests by method, route and status."}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "riskmap_http_request_duration_seconds",
			Help:    "HTTP request latency.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}}, []string{"method", "route", "status"}),
		filters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskmap_filter_requests_total",
			Help: "Items requests with a CQL2 filter, by collection and filter-lang (GIS clients push their filters here)."}, []string{"collection", "lang"}),
		moved: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskmap_tile_pieces_moved_total",
			Help: "Tiles whose pieces were not where the service's piece set said (tile_piece rewritten by CLUSTER or VACUUM FULL): each makes the set be read again."}),
		started: time.Now(),
	}
	m.reg.MustRegister(m.requests, m.latency, m.filters, m.moved,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "riskmap_uptime_seconds", Help: "Seconds since the server started."},
			func() float64 { return time.Since(m.started).Seconds() }))
	return m
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	s := statusText(status)
	m.requests.WithLabelValues(method, route, s).Inc()
	m.latency.WithLabelValues(method, route, s).Observe(d.Seconds())
}

func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "0"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

// handler serves the metrics; the database pool's gauges are registered
// the first time it is asked for (the route table is built more than once).
func (m *metrics) handler(db *postgres.DB) http.Handler {
	m.once.Do(func() { m.h = m.build(db) })
	return m.h
}

func (m *metrics) build(db *postgres.DB) http.Handler {
	if db != nil {
		gauge := func(name, help string, f func() float64) prometheus.Collector {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "The database pool's " + help + "."}, f)
		}
		st := func() interface {
			TotalConns() int32
			AcquiredConns() int32
			IdleConns() int32
			MaxConns() int32
			AcquireCount() int64
			EmptyAcquireCount() int64
		} {
			return db.Pool.Stat()
		}
		m.reg.MustRegister(
			gauge("riskmap_db_pool_total_conns", "connections in the pool", func() float64 { return float64(st().TotalConns()) }),
			gauge("riskmap_db_pool_acquired_conns", "connections in use", func() float64 { return float64(st().AcquiredConns()) }),
			gauge("riskmap_db_pool_idle_conns", "idle connections", func() float64 { return float64(st().IdleConns()) }),
			gauge("riskmap_db_pool_max_conns", "maximum", func() float64 { return float64(st().MaxConns()) }),
			gauge("riskmap_db_pool_acquire_total", "connections acquired since start", func() float64 { return float64(st().AcquireCount()) }),
			gauge("riskmap_db_pool_empty_acquire_total", "acquires that had to wait for a connection", func() float64 { return float64(st().EmptyAcquireCount()) }),
		)
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
