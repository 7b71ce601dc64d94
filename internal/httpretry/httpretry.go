// Package httpretry sends an HTTP request to a survey server again when the
// failure is passing: a network error, a 5xx answer or 429. The pulls
// (internal/pull) and the pushes (internal/push) share it; what an answer
// means is theirs to say.
package httpretry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client retries a request Retries times after the first, waiting Backoff,
// then twice as long each time.
type Client struct {
	HTTP    *http.Client
	Retries int
	Backoff time.Duration
}

// MaxBody bounds an answer read into memory.
const MaxBody = 512 << 20

// Do sends the request (body may be nil) and returns the final answer's
// status and body, or an error when no answer that is not passing came
// within the retries.
func (c Client) Do(ctx context.Context, method, u string, header http.Header, body []byte) (int, []byte, error) {
	wait := c.Backoff
	var last error
	for attempt := 0; attempt <= c.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			case <-time.After(wait):
			}
			wait *= 2
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return 0, nil, err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			last = fmt.Errorf("%s %s: %w", method, Redact(u), err)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
		resp.Body.Close()
		if err != nil {
			last = fmt.Errorf("%s %s: reading the answer: %w", method, Redact(u), err)
			continue
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			last = fmt.Errorf("%s %s: HTTP %d: %s", method, Redact(u), resp.StatusCode, Snippet(b))
			continue
		}
		return resp.StatusCode, b, nil
	}
	return 0, nil, fmt.Errorf("%w (gave up after %d attempts)", last, c.Retries+1)
}

// Redact drops a URL's query, to keep messages short.
func Redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// Snippet is the start of an answer, for a message.
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
