package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kesempatan/riskmap/internal/dbtest"
	"github.com/kesempatan/riskmap/internal/httpapi"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// proxy is a TCP proxy to PostgreSQL that a test can cut and restore, to
// play a database outage on loopback.
type proxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func (p *proxy) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestDatabaseOutage: with PostGIS gone the API answers 503 with Retry-After
// (no SQL, no stack), and recovers by itself when it returns.
func TestDatabaseOutage(t *testing.T) {
	u, err := url.Parse(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: u.Host, addr: "127.0.0.1:0"}
	p.up(t)
	t.Cleanup(p.down)
	u.Host = p.addr
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	srv := serve(t, postgres.FromPool(pool))

	check := func(path string, status int) {
		t.Helper()
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != status {
			t.Fatalf("GET %s = %d %s, want %d", path, resp.StatusCode, body, status)
		}
		if status == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("503 without Retry-After or problem+json: %v", resp.Header)
			}
			for _, leak := range []string{"SELECT", "dial", "127.0.0.1", "goroutine"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("503 body leaks %q: %s", leak, body)
				}
			}
		}
	}
	check("/collections/villages/items", http.StatusOK)
	p.down()
	// A kept public page is served for as long as the data version read
	// last is trusted (VersionTTL); then the outage shows.
	time.Sleep(httpapi.VersionTTL + 100*time.Millisecond)
	check("/collections/villages/items", http.StatusServiceUnavailable)
	check("/collections", http.StatusServiceUnavailable)
	check("/readyz", http.StatusServiceUnavailable)
	check("/healthz", http.StatusOK)
	p.up(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := get(t, srv.URL+"/collections/villages/items")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API did not recover after the database returned: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClientGoneIsNotAServerError: a request whose client went away (its
// context cancelled) while the database worked for it is counted as 499,
// not as a server error, and logs no error.
func TestClientGoneIsNotAServerError(t *testing.T) {
	db := dbtest.New(t)
	var logs strings.Builder
	var mu sync.Mutex
	h := httpapi.NewServer(db, slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil)), httpapi.Options{PublicURL: "http://riskmap.test"}).Handler()
	for _, path := range []string{"/collections/villages/items", "/aggregates/desa", "/targets/villages?month=8", "/labels/desa?q=a"} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil).WithContext(ctx))
		if rec.Code >= 500 {
			t.Errorf("GET %s with the client gone: %d %s", path, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "riskmap_http_requests_total") && strings.Contains(line, `status="5`) {
			t.Errorf("a gone client counted as a server error: %s", line)
		}
	}
	if !strings.Contains(rec.Body.String(), `status="499"`) {
		t.Errorf("no request counted as 499 (client closed request):\n%s", rec.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("a gone client logged as an error:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
