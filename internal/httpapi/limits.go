package httpapi

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxQueryBytes bounds a request's query string: every parameter here is
// short, so a longer one is a mistake or a probe.
const MaxQueryBytes = 2048

// limiter is a token bucket per API key, or per client address for the
// public: rate tokens a second, up to burst.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(perMinute int) *limiter {
	if perMinute <= 0 {
		return nil
	}
	return &limiter{rate: float64(perMinute) / 60, burst: math.Max(float64(perMinute)/10, 5), buckets: map[string]*bucket{}}
}

// allow takes a token for who, or says how long to wait for one.
func (l *limiter) allow(who string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[who]
	if b == nil {
		if len(l.buckets) > 100_000 { // forget idle clients rather than grow without bound
			l.buckets = map[string]*bucket{}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[who] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// guard refuses oversized queries and rate-limits each key (or client
// address, for the public) with 429 and Retry-After.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RawQuery) > MaxQueryBytes {
			writeProblem(w, http.StatusRequestURITooLong, "query too long", "the query string is longer than "+strconv.Itoa(MaxQueryBytes)+" bytes", "")
			return
		}
		// PostgreSQL text holds no NUL and only valid UTF-8: refuse both here,
		// as a bad parameter, rather than fail in the database.
		if strings.ContainsRune(r.URL.Path, 0) || !utf8.ValidString(r.URL.Path) {
			writeProblem(w, http.StatusBadRequest, "invalid path", "the path holds a NUL byte or invalid UTF-8", "path")
			return
		}
		for name, vals := range r.URL.Query() {
			for _, v := range append(vals, name) {
				if strings.ContainsRune(v, 0) || !utf8.ValidString(v) {
					writeProblem(w, http.StatusBadRequest, "invalid parameter", "the value holds a NUL byte or invalid UTF-8", name)
					return
				}
			}
		}
		if s.limit != nil {
			who := "ip:" + clientIP(r)
			if p := principal(r); p.KeyID != 0 {
				who = "key:" + strconv.FormatInt(p.KeyID, 10)
			}
			if ok, wait := s.limit.allow(who, time.Now()); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				writeProblem(w, http.StatusTooManyRequests, "too many requests", "slow down: this key or address has used its share of requests", "")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
