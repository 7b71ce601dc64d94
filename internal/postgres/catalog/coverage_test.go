package catalog

import (
	"math/rand/v2"
	"testing"
)

// TestCoverageMatchesCovered: the coverage spread over every zoom says what
// a search of the zoom-10 coverage says, for every tile of zooms 0-8
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
					if got, want := c.Covers(z, x, y), covered(cov, z, x, y); got != want {
						t.Fatalf("coverage of %d tiles: %d/%d/%d covered %v, want %v", n, z, x, y, got, want)
					}
				}
			}
		}
		for range 20000 {
			z := 9 + r.IntN(6)
			x, y := r.IntN(1<<z), r.IntN(1<<z)
			if got, want := c.Covers(z, x, y), covered(cov, z, x, y); got != want {
				t.Fatalf("coverage of %d tiles: %d/%d/%d covered %v, want %v", n, z, x, y, got, want)
			}
		}
	}
}

// covered is the definition Coverage spreads: tile z/x/y may hold
// something of a layer whose zoom-10 coverage is cov, found by searching it.
func covered(cov map[uint32]struct{}, z, x, y int) bool {
	if z >= CoverageZoom {
		_, ok := cov[uint32(x>>(z-CoverageZoom))<<16|uint32(y>>(z-CoverageZoom))]
		return ok
	}
	// A shallower tile is covered when a z10 tile under it, or under its
	// buffer (64/4096 of its width, in z10 tiles rounded up), is.
	n := 1 << (CoverageZoom - z)
	b := (n*64 + 4095) / 4096
	x0, x1, y0, y1 := x*n-b, (x+1)*n-1+b, y*n-b, (y+1)*n-1+b
	for k := range cov {
		if kx, ky := int(k>>16), int(k&0xffff); kx >= x0 && kx <= x1 && ky >= y0 && ky <= y1 {
			return true
		}
	}
	return false
}
