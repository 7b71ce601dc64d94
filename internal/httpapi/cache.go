package httpapi

import (
	"bytes"
	"compress/gzip"
	"container/list"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kesempatan/riskmap/internal/postgres"
)

// VersionTTL is how long the server trusts the data version it read last:
// a response may be built from (and tagged with) a version up to this old
// after an import or scoring run commits. Every replica reads the version
// from the database, so replicas agree within it too.
const VersionTTL = time.Second

// version caches the data version (an import or scoring run changes it)
// for VersionTTL, so that a cached tile is served with no database round
// trip at all.
type version struct {
	mu   sync.Mutex
	v    string
	at   time.Time
	read func(context.Context) (string, error)
}

func (c *version) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v != "" && time.Since(c.at) < VersionTTL {
		return c.v, nil
	}
	v, err := c.read(ctx)
	if err != nil {
		return "", err
	}
	c.v, c.at = v, time.Now()
	return v, nil
}

// byteCache keeps gzip-compressed responses (vector tiles; public GeoJSON
// pages) by data version and request, least recently used first out,
// within a bound on their bytes. A new data version makes every older
// entry unreachable; they age out.
type byteCache struct {
	mu       sync.Mutex
	max, n   int64
	ll       *list.List
	items    map[string]*list.Element
	hits     prometheus.Counter
	misses   prometheus.Counter
	evicted  prometheus.Counter
	bytesG   prometheus.GaugeFunc
	entriesG prometheus.GaugeFunc
}

type cacheEntry struct {
	key string
	gz  []byte // the response, gzip-compressed; nil for an empty one
}

// newByteCache returns a cache of at most maxBytes of compressed responses
// (0: no cache), registering its metrics as riskmap_<kind>_cache_*; what
// names what it holds ("tiles", "GeoJSON pages").
func newByteCache(kind, what string, maxBytes int64, reg *prometheus.Registry) *byteCache {
	name := "riskmap_" + kind + "_cache_"
	c := &byteCache{max: maxBytes, ll: list.New(), items: map[string]*list.Element{},
		hits:    prometheus.NewCounter(prometheus.CounterOpts{Name: name + "hits_total", Help: what + " served from the in-process cache."}),
		misses:  prometheus.NewCounter(prometheus.CounterOpts{Name: name + "misses_total", Help: what + " built by PostGIS (not in the cache)."}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: name + "evictions_total", Help: what + " dropped to keep the cache within its bound."}),
	}
	c.bytesG = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name + "bytes", Help: "Compressed bytes held by the " + kind + " cache."},
		func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(c.n) })
	c.entriesG = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name + "entries", Help: what + " held by the " + kind + " cache."},
		func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(c.ll.Len()) })
	reg.MustRegister(c.hits, c.misses, c.evicted, c.bytesG, c.entriesG)
	return c
}

// entrySize is what an entry costs: its bytes and its bookkeeping.
func entrySize(e *cacheEntry) int64 { return int64(len(e.gz) + len(e.key) + 128) }

// enabled reports whether the cache keeps anything.
func (c *byteCache) enabled() bool { return c.max > 0 }

func (c *byteCache) get(key string) ([]byte, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		c.hits.Inc()
		return el.Value.(*cacheEntry).gz, true
	}
	c.misses.Inc()
	return nil, false
}

func (c *byteCache) put(key string, gz []byte) {
	if c.max <= 0 {
		return
	}
	e := &cacheEntry{key: key, gz: gz}
	if entrySize(e) > c.max/4 {
		return // one entry may not push a quarter of the cache out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(e)
	c.n += entrySize(e)
	for c.n > c.max {
		last := c.ll.Back()
		old := last.Value.(*cacheEntry)
		c.ll.Remove(last)
		delete(c.items, old.key)
		c.n -= entrySize(old)
		c.evicted.Inc()
	}
}

var gzipWriters = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed); return w }}

// gzipBytes compresses b (nil stays nil: an empty tile).
func gzipBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	var buf bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	gzipWriters.Put(w)
	return buf.Bytes()
}

func gunzipBytes(gz []byte) ([]byte, error) {
	if len(gz) == 0 {
		return nil, nil
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// countCache keeps numberMatched by data version and count query: paging
// through a collection counts it once, not on every page (at 1,000,000
// households the count cost more than a page of 10,000). A new data
// version makes every older count unreachable; at most max are kept, least
// recently used first out.
type countCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type countEntry struct {
	key string
	n   int
}

func newCountCache(max int) *countCache {
	return &countCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *countCache) get(key string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*countEntry).n, true
	}
	return 0, false
}

func (c *countCache) put(key string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.Value.(*countEntry).n = n
		c.ll.MoveToFront(e)
		return
	}
	c.items[key] = c.ll.PushFront(&countEntry{key, n})
	for c.ll.Len() > c.max {
		e := c.ll.Back()
		c.ll.Remove(e)
		delete(c.items, e.Value.(*countEntry).key)
	}
}

// countItems is CountItems through the count cache.
func (s *Server) countItems(ctx context.Context, q *postgres.ItemsQuery) (int, error) {
	v, err := s.version.get(ctx)
	if err != nil {
		return 0, err
	}
	sql, args := q.CountSQL()
	var key strings.Builder
	key.WriteString(v + "\x00" + sql)
	for _, a := range args {
		fmt.Fprintf(&key, "\x00%T:%#v", a, a)
	}
	if n, ok := s.counts.get(key.String()); ok {
		return n, nil
	}
	n, err := s.db.CountItems(ctx, q)
	if err != nil {
		return 0, err
	}
	s.counts.put(key.String(), n)
	return n, nil
}
