package catalog

import (
	"math/rand/v2"
	"testing"
)

// TestCoverageMatchesCovered: the coverage spread over every zoom says what
// the search over the zoom-10 coverage says, for every tile of zooms 0-8
// and sampled tiles deeper, over coverages of scattered and clustered
// tiles, at the tile matrix's edges too.
func TestCoverageMatchesCovered(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i, n := range []int{0, 1, 5, 40, 400} {
		cov := map[uint32]struct{}{}
		for range n {
			var x, y int
			switch i % 2 {
			case 0: // scattered, with the matrix's corners
				x, y = r.IntN(1024), r.IntN(1024)
			default: // a cluster
				x, y = 800+r.IntN(30), 500+r.IntN(30)
			}
			cov[uint32(x)<<16|uint32(y)] = struct{}{}
		}
		if n > 0 {
			cov[0] = struct{}{}
			cov[uint32(1023)<<16|1023] = struct{}{}
		}
		c := NewCoverage(cov)
		for z := 0; z <= 8; z++ {
			for x := 0; x < 1<<z; x++ {
				for y := 0; y < 1<<z; y++ {
					if got, want := c.Covers(z, x, y), Covered(cov, z, x, y); got != want {
						t.Fatalf("coverage of %d tiles: %d/%d/%d covered %v, want %v", n, z, x, y, got, want)
					}
				}
			}
		}
		for range 20000 {
			z := 9 + r.IntN(6)
			x, y := r.IntN(1<<z), r.IntN(1<<z)
			if got, want := c.Covers(z, x, y), Covered(cov, z, x, y); got != want {
				t.Fatalf("coverage of %d tiles: %d/%d/%d covered %v, want %v", n, z, x, y, got, want)
			}
		}
	}
}
