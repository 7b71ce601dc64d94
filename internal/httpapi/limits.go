package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net"
	"net/http"
	"net/url"
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

// FailedAuthPerMinute bounds the requests with a bad, expired or revoked
// key that one client address may make: past it, any keyed request from
// that address is refused with 429 before the key is looked up.
const FailedAuthPerMinute = 60

// sanitize runs first on every route, static files included: it refuses
// oversized queries (414) and paths or parameters holding a NUL byte or
// invalid UTF-8 (400), which PostgreSQL text cannot hold and no file name
// here has.
func (s *Server) sanitize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RawQuery) > MaxQueryBytes {
			writeProblem(w, http.StatusRequestURITooLong, "query too long", "the query string is longer than "+strconv.Itoa(MaxQueryBytes)+" bytes", "")
			return
		}
		if strings.ContainsRune(r.URL.Path, 0) || !utf8.ValidString(r.URL.Path) {
			writeProblem(w, http.StatusBadRequest, "invalid path", "the path holds a NUL byte or invalid UTF-8", "path")
			return
		}
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "invalid query", "the query string is not valid URL encoding", "query")
			return
		}
		for name, vals := range query {
			for _, v := range append(vals, name) {
				if strings.ContainsRune(v, 0) || !utf8.ValidString(v) {
					writeProblem(w, http.StatusBadRequest, "invalid parameter", "the value holds a NUL byte or invalid UTF-8", name)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// throttle rate-limits before any key is looked up: a keyed request takes a
// token from its key's bucket (by the key's hash, valid or not), a request
// without a key from its address's; an address whose failed
// authentications (see authenticate) have used up FailedAuthPerMinute gets
// 429 for any keyed request, so guessing keys costs the database nothing.
func (s *Server) throttle(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := clientIP(r)
		keyed := r.Header.Get("Authorization") != ""
		if keyed && s.failures != nil && !s.failures.has("fail:"+ip, time.Now()) {
			s.tooMany(w, time.Minute)
			return
		}
		if s.limit != nil {
			who := "ip:" + ip
			if keyed {
				h := sha256.Sum256([]byte(r.Header.Get("Authorization")))
				who = "key:" + hex.EncodeToString(h[:8])
			}
			if ok, wait := s.limit.allow(who, time.Now()); !ok {
				s.tooMany(w, wait)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authFailed charges a failed authentication to the client's address.
func (s *Server) authFailed(r *http.Request) {
	if s.failures != nil {
		s.failures.allow("fail:"+clientIP(r), time.Now())
	}
}

func (s *Server) tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	writeProblem(w, http.StatusTooManyRequests, "too many requests", "slow down: this key or address has used its share of requests", "")
}

// has reports whether who has a token left, without taking it.
func (l *limiter) has(who string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[who]
	return b == nil || math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate) >= 1
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
