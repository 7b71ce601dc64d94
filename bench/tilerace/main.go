// Command tilerace races cold vector tiles over the data's extent: riskmap
// against its peers (bench/scale.sh runs it).
//
//	go run ./bench/tilerace [-only LAYER:Z,Z...]... [-n 24] RISKMAP_URL PEERS MINLON MINLAT MAXLON MAXLAT
//
// -only races just the named rows (e.g. -only kabupaten:11,13), to look
// again at a few rows without the whole race; -n sets how many tiles a
// zoom (more: a larger sample of the land tiles).
//
// PEERS is "-" (none), a pg_tileserv URL, or a comma-separated list of
// NAME=URL with NAME pg_tileserv (its public.<table> layers) or tegola (the
// map "riskmap" with layers named after the tables; bench/scale.sh writes
// its configuration). For each layer (villages, kecamatan, kabupaten) and
// zoom 5-14: up to 24 tiles (-n) spread over the box, each fetched once from
// every peer and once from riskmap (tile cache off), in turn, so none gets
// another's warm database pages, each on a kept-alive connection and with
// Accept-Encoding: gzip, as a map client in a browser fetches tiles.
// riskmap is asked for the month the map page opens on (?month=8, the
// seasonal score the peers do not compute).
//
// A request is timed from before it is written to the last byte of its
// body. It prints per zoom the median time of each server, the ratios
// (peer / riskmap: above 1, riskmap is faster) and the largest riskmap tile
// (uncompressed bytes; the limit is 500 KB), how many of its tiles were
// empty (most of a country's box is sea), and the race again over the
// tiles riskmap answered with features only: its median there ("land ms")
// and each peer's ratio over the same tiles ("<peer> land"). A peer that takes more than
// 30 s over a tile (tegola's village tiles of the whole country under zoom
// 8 take minutes) is not asked for the rest of that zoom, and its row says
// ">30000".
//
// It replaces a Python client whose own round trip, 0.3-0.4 ms, was a
// third of a small tile's time on every server and pulled every ratio
// toward 1; this client's is under 0.1 ms (a riskmap tile answered empty
// from the layer's coverage, with no query: see docs/scale.md).
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

var layers = []struct{ ours, table string }{{"villages", "village"}, {"kecamatan", "kecamatan"}, {"kabupaten", "kabupaten"}}

var peerPaths = map[string]string{
	"pg_tileserv": "%s/public.%s/%d/%d/%d.pbf",
	"tegola":      "%s/maps/riskmap/%s/%d/%d/%d.pbf",
}

// peerTimeout: a peer slower than this on a tile is left at that zoom.
const peerTimeout = 30 * time.Second

type peer struct {
	name, url string
	client    *http.Client
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tilerace:", err)
		os.Exit(1)
	}
}

// rows is the -only flag: the zooms to race per layer (none: all).
type rows map[string]map[int]bool

func (r rows) String() string { return fmt.Sprint(map[string]map[int]bool(r)) }

func (r rows) Set(v string) error {
	layer, zooms, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("%q: want LAYER:Z,Z", v)
	}
	if r[layer] == nil {
		r[layer] = map[int]bool{}
	}
	for _, s := range strings.Split(zooms, ",") {
		z, err := strconv.Atoi(s)
		if err != nil || z < 5 || z > 14 {
			return fmt.Errorf("%q: zoom %q is not 5-14", v, s)
		}
		r[layer][z] = true
	}
	return nil
}

func (r rows) has(layer string, z int) bool { return len(r) == 0 || r[layer][z] }

func run(args []string, out io.Writer) error {
	only := rows{}
	fs := flag.NewFlagSet("tilerace", flag.ContinueOnError)
	fs.Var(only, "only", "race only these rows: LAYER:Z,Z (repeatable)")
	per := fs.Int("n", 24, "tiles per zoom, spread over the box")
	if err := fs.Parse(args); err != nil {
		return err
	}
	args = fs.Args()
	if len(args) != 6 {
		return errors.New("usage: tilerace [-only LAYER:Z,Z]... RISKMAP_URL PEERS MINLON MINLAT MAXLON MAXLAT")
	}
	var box [4]float64
	for i, a := range args[2:] {
		v, err := strconv.ParseFloat(a, 64)
		if err != nil {
			return fmt.Errorf("box value %q: %v", a, err)
		}
		box[i] = v
	}
	peers, err := peersOf(args[1])
	if err != nil {
		return err
	}
	ours := newClient(2 * time.Minute)
	head := fmt.Sprintf("%-10s %4s %5s %10s", "layer", "zoom", "tiles", "riskmap ms")
	for _, p := range peers {
		head += fmt.Sprintf(" %14s %7s", p.name+" ms", "ratio")
	}
	head += fmt.Sprintf(" %8s %6s %8s", "max KB", "empty", "land ms")
	for _, p := range peers {
		head += fmt.Sprintf(" %14s", p.name+" land")
	}
	fmt.Fprintln(out, head)
	worst := 0
	for _, l := range layers {
		for z := 5; z <= 14; z++ {
			if !only.has(l.ours, z) {
				continue
			}
			times := map[string][]float64{}
			slow := map[string]bool{}
			size, empty := 0, 0
			var land []int // the tiles riskmap answered with features
			var mine []float64
			for _, t := range tiles(box, z, *per) {
				for _, p := range peers {
					if slow[p.name] {
						times[p.name] = append(times[p.name], math.NaN())
						continue
					}
					ms, _, err := fetch(p.client, fmt.Sprintf(peerPaths[p.name], p.url, l.table, z, t[0], t[1]), http.StatusNoContent, http.StatusNotFound)
					if err != nil {
						fmt.Fprintf(os.Stderr, "  %s %d/%d/%d: no tile (%v); left at this zoom\n", p.name, z, t[0], t[1], err)
						p.client.CloseIdleConnections()
						slow[p.name] = true
						times[p.name] = append(times[p.name], math.NaN())
						continue
					}
					times[p.name] = append(times[p.name], ms)
				}
				ms, n, err := fetch(ours, fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt?month=8", args[0], l.ours, z, t[0], t[1]))
				if err != nil {
					return err
				}
				mine = append(mine, ms)
				size = max(size, n)
				if n == 0 {
					empty++
				} else {
					land = append(land, len(mine)-1)
				}
			}
			worst = max(worst, size)
			o := median(mine)
			row := fmt.Sprintf("%-10s %4d %5d %10.2f", l.ours, z, len(mine), o)
			for _, p := range peers {
				if slow[p.name] {
					lim := float64(peerTimeout.Milliseconds())
					row += fmt.Sprintf(" %14s %7s", fmt.Sprintf(">%.0f", lim), fmt.Sprintf(">%.0f", lim/o))
					continue
				}
				m := median(times[p.name])
				row += fmt.Sprintf(" %14.2f %7.2f", m, m/o)
			}
			// The same race over the tiles with features only: the sea's
			// empty tiles, answered without a query, left out.
			ol := median(pick(mine, land))
			row += fmt.Sprintf(" %8.0f %6d %8.2f", float64(size)/1024, empty, ol)
			for _, p := range peers {
				row += fmt.Sprintf(" %14.2f", median(pick(times[p.name], land))/ol)
			}
			fmt.Fprintln(out, row)
		}
	}
	fmt.Fprintf(out, "largest riskmap tile: %.0f KB\n", float64(worst)/1024)
	return nil
}

func peersOf(arg string) ([]*peer, error) {
	if arg == "-" {
		return nil, nil
	}
	if !strings.Contains(arg, "=") {
		arg = "pg_tileserv=" + arg
	}
	var out []*peer
	for _, part := range strings.Split(arg, ",") {
		name, url, _ := strings.Cut(part, "=")
		if _, ok := peerPaths[name]; !ok {
			return nil, fmt.Errorf("unknown peer %q: want pg_tileserv or tegola", name)
		}
		out = append(out, &peer{name: name, url: strings.TrimRight(url, "/"), client: newClient(peerTimeout)})
	}
	return out, nil
}

// newClient keeps one connection alive per server, as a map client does.
// It asks for gzip but does not decompress: the time is to the last byte
// on the wire. A kept-alive connection the server closed while idle
// (pg_tileserv's one-second read timeout) is dialled again by the
// transport, as a browser does.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}}
}

// fetch GETs url and returns the milliseconds to the body's last byte and
// the tile's uncompressed length; a status in empty is an empty tile
// (tegola answers 404 at a zoom where its map has no layer).
func fetch(c *http.Client, url string, empty ...int) (float64, int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	t := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	ms := float64(time.Since(t).Nanoseconds()) / 1e6
	if err != nil {
		return 0, 0, err
	}
	for _, s := range empty {
		if resp.StatusCode == s {
			return ms, 0, nil
		}
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if resp.Header.Get("Content-Encoding") == "gzip" && len(body) > 0 {
		r, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return 0, 0, fmt.Errorf("GET %s: %v", url, err)
		}
		if body, err = io.ReadAll(r); err != nil {
			return 0, 0, fmt.Errorf("GET %s: %v", url, err)
		}
	}
	return ms, len(body), nil
}

// tileOf is the Web Mercator tile holding lon, lat at zoom z.
func tileOf(lon, lat float64, z int) (int, int) {
	n := math.Exp2(float64(z))
	r := lat * math.Pi / 180
	return int((lon + 180) / 360 * n), int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
}

// tiles spreads up to want tiles evenly over the box's tile range, row by
// row (the sea and sparse land included, as a map's viewport has them).
func tiles(box [4]float64, z, want int) [][2]int {
	x0, y0 := tileOf(box[0], box[3], z)
	x1, y1 := tileOf(box[2], box[1], z)
	w := x1 - x0 + 1
	n := w * (y1 - y0 + 1)
	step := max(1, n/want)
	var out [][2]int
	for k := 0; k < n && len(out) < want; k += step {
		out = append(out, [2]int{x0 + k%w, y0 + k/w})
	}
	return out
}

// pick is v at the indices idx.
func pick(v []float64, idx []int) []float64 {
	out := make([]float64, 0, len(idx))
	for _, i := range idx {
		out = append(out, v[i])
	}
	return out
}

// median of v, leaving out NaN (a tile a slow peer was not asked for).
func median(v []float64) float64 {
	var s []float64
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
