// Command load is a bounded HTTP load generator for riskmap on loopback: N
// connections request a list of URLs round-robin for a fixed time and report
// requests, errors and latency percentiles. It refuses hosts that are not
// loopback addresses.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	conns := flag.Int("c", 32, "concurrent connections")
	dur := flag.Duration("d", 30*time.Second, "how long to run (at most 10m)")
	flag.Parse()
	urls := flag.Args()
	if len(urls) == 0 || *dur > 10*time.Minute || *conns < 1 || *conns > 256 {
		fmt.Fprintln(os.Stderr, "usage: load [-c 32] [-d 30s] URL...  (loopback URLs only; -d at most 10m, -c 1..256)")
		os.Exit(2)
	}
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		host := p.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			fmt.Fprintf(os.Stderr, "load: %s is not a loopback address\n", host)
			os.Exit(2)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns}, Timeout: 30 * time.Second}
	var mu sync.Mutex
	var lat []time.Duration
	errs := map[string]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := i; ctx.Err() == nil; n++ {
				u := urls[n%len(urls)]
				t := time.Now()
				resp, err := client.Get(u)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode >= 400 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				d := time.Since(t)
				mu.Lock()
				if err != nil {
					if ctx.Err() == nil {
						errs[err.Error()]++
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	nerr := 0
	var kinds []string
	for k, n := range errs {
		nerr += n
		kinds = append(kinds, fmt.Sprintf("%s x%d", k, n))
	}
	fmt.Printf("connections %d, duration %s, requests %d (%.0f/s), errors %d %s\n", *conns, elapsed.Round(time.Millisecond),
		len(lat), float64(len(lat))/elapsed.Seconds(), nerr, strings.Join(kinds, "; "))
	fmt.Printf("latency p50 %s, p90 %s, p99 %s, max %s\n", pct(0.5).Round(time.Microsecond), pct(0.9).Round(time.Microsecond),
		pct(0.99).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	if nerr > 0 {
		os.Exit(1)
	}
}
