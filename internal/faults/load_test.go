package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// load is the clients of a fault test: writers that post visits with an
// Idempotency-Key each, at a steady pace, and post them again as they were
// until they are acknowledged when the answer is a 503 or no answer; and
// readers of public and staff pages. It records every answer.
type load struct {
	base  string
	key   string // a staff API key
	cases []int64
	paths []readPath
	pace  time.Duration

	mu       sync.Mutex
	acked    map[string]int64 // Idempotency-Key -> visit id
	statuses map[int]int      // every answer, by status (0: no answer)
	bad      []string         // a 5xx other than 503, a 503 without Retry-After, any other failure
	ackedAt  []time.Time      // when each visit was acknowledged
	readAt   []time.Time      // when each read was answered 200
	retries  int              // visits posted again after a 503 or no answer

	began, ended time.Time

	stop chan struct{}
	wg   sync.WaitGroup
}

// readPath is one page the readers ask for; staff pages are asked with
// the staff key (audited, on the primary).
type readPath struct {
	path  string
	staff bool
}

// readPaths are what the readers ask for, in turn: every kind of GET the
// service answers from the database, public and staff, for a village, a
// kecamatan and a case of the staff key's areas.
func readPaths(village, kecamatan string, caseID int64) []readPath {
	return []readPath{
		{"/collections/villages/items?limit=20", false},
		{"/run", false},
		{"/cases?open=true&limit=20", true},
		{"/collections", false},
		{"/collections/kecamatan/items?limit=5", false},
		{"/tiles/villages/10/834/534.mvt", false},
		{"/collections/villages/items/" + village, false},
		{"/collections/villages/queryables", false},
		{"/aggregates/kecamatan", false},
		{"/villages/" + village + "/profile", false},
		{"/targets/villages?month=8&limit=10", false},
		{"/targets/households?month=8&limit=10", true},
		{"/rounds", false},
		{"/pipeline/kecamatan", false},
		{fmt.Sprintf("/cases/%d", caseID), true},
		{"/labels/desa?q=a&limit=10", false},
		{"/report/kecamatan/" + kecamatan, false},
		{"/releases", false},
		{"/calendar", false},
		{"/collections/households/items?limit=20", true},
		{"/tiles/kecamatan/9/417/267.mvt", false},
		{"/readyz", false},
	}
}

func newLoad(base, key string, cases []int64, paths []readPath) *load {
	return &load{base: base, key: key, cases: cases, paths: paths, pace: 20 * time.Millisecond,
		acked: map[string]int64{}, statuses: map[int]int{}, stop: make(chan struct{})}
}

// start runs w writers and r readers until finish.
func (l *load) start(w, r int) {
	l.began = time.Now()
	for i := range w {
		l.wg.Add(1)
		go l.writer(i)
	}
	for i := range r {
		l.wg.Add(1)
		go l.reader(i)
	}
}

// finish stops the clients: each writer first has its visit in hand
// acknowledged (or given up on, which the checks report).
func (l *load) finish() {
	close(l.stop)
	l.wg.Wait()
	l.ended = time.Now()
}

// rate returns the visits acknowledged and the reads answered 200 a second,
// over the whole run of the clients, outages included.
func (l *load) rate() (visits, reads float64) {
	s := l.ended.Sub(l.began).Seconds()
	return float64(len(l.ackedAt)) / s, float64(len(l.readAt)) / s
}

func (l *load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

var client = &http.Client{Timeout: 30 * time.Second}

// do sends one request and records its answer; it returns the status (0
// for no answer) and the body.
func (l *load) do(req *http.Request) (int, []byte) {
	resp, err := client.Do(req)
	if err != nil {
		l.mu.Lock()
		l.statuses[0]++
		l.mu.Unlock()
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[resp.StatusCode]++
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		if resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			l.bad = append(l.bad, fmt.Sprintf("%s %s: 503 without Retry-After or problem+json: %v %s", req.Method, req.URL.Path, resp.Header, body))
		}
		for _, leak := range []string{"SELECT", "INSERT", "SQLSTATE", "dial", "goroutine"} {
			if strings.Contains(string(body), leak) {
				l.bad = append(l.bad, fmt.Sprintf("%s %s: 503 body shows %q: %s", req.Method, req.URL.Path, leak, body))
			}
		}
	case resp.StatusCode >= 300:
		l.bad = append(l.bad, fmt.Sprintf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, body))
	}
	return resp.StatusCode, body
}

func (l *load) writer(w int) {
	defer l.wg.Done()
	today := time.Now().Format(time.DateOnly)
	for i := 0; !l.stopped(); i++ {
		key := fmt.Sprintf("fault-w%d-%d", w, i)
		id := l.cases[(w*7919+i*31)%len(l.cases)]
		body := fmt.Sprintf(`{"visited_on":%q,"kind":"remediation","outcome":"met","actions":["school_support"],"action_status":"planned"}`, today)
		giveUp := time.Now().Add(90 * time.Second)
		for try := 0; ; try++ {
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/cases/%d/visits", l.base, id), strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+l.key)
			req.Header.Set("Idempotency-Key", key)
			status, b := l.do(req)
			if status == 200 || status == 201 {
				var res struct {
					VisitID int64 `json:"visit_id"`
				}
				json.Unmarshal(b, &res)
				l.mu.Lock()
				if prev, ok := l.acked[key]; ok && prev != res.VisitID {
					l.bad = append(l.bad, fmt.Sprintf("visit %s acknowledged as %d and as %d", key, prev, res.VisitID))
				}
				l.acked[key] = res.VisitID
				l.ackedAt = append(l.ackedAt, time.Now())
				l.mu.Unlock()
				break
			}
			if (status != 0 && status != http.StatusServiceUnavailable) || time.Now().After(giveUp) {
				l.mu.Lock()
				l.bad = append(l.bad, fmt.Sprintf("visit %s given up after %d tries (last status %d)", key, try+1, status))
				l.mu.Unlock()
				break
			}
			// A 503 says Retry-After: 2; these clients come back sooner,
			// so that the test sees when writes resume to a tenth of a second.
			l.mu.Lock()
			l.retries++
			l.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(l.pace)
	}
}

func (l *load) reader(r int) {
	defer l.wg.Done()
	for i := r; !l.stopped(); i++ {
		p := l.paths[i%len(l.paths)]
		req, _ := http.NewRequest("GET", l.base+p.path, nil)
		if p.staff {
			req.Header.Set("Authorization", "Bearer "+l.key)
		}
		if status, _ := l.do(req); status == 200 {
			l.mu.Lock()
			l.readAt = append(l.readAt, time.Now())
			l.mu.Unlock()
		} else {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(l.pace)
	}
}

// outage returns the longest time without an acknowledged write and
// without a read answered 200 around t (from the last one before t to the
// next after it, and any longer gap since), and whether both have resumed
// after until.
func (l *load) outage(t, until time.Time) (write, read time.Duration, resumed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	gap := func(ts []time.Time) (time.Duration, bool) {
		i := sort.Search(len(ts), func(i int) bool { return ts[i].After(t) })
		var longest time.Duration
		for j := max(i, 1); j < len(ts); j++ {
			longest = max(longest, ts[j].Sub(ts[j-1]))
		}
		return longest, len(ts) > 0 && ts[len(ts)-1].After(until)
	}
	w, okw := gap(l.ackedAt)
	r, okr := gap(l.readAt)
	return w, r, okw && okr
}

// counts returns the visits acknowledged and the answers so far.
func (l *load) counts() (acked, answers int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.statuses {
		answers += n
	}
	return len(l.acked), answers
}
