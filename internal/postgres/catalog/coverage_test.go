package catalog

import (
	"math/rand/v2"
	"slices"
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

// TestCoverageWithPieces: with a layer's pieces, a tile of a cut zoom is
// covered exactly when it holds a piece, inside the bounding-box coverage
// or not; a zoom the layer is not cut at (under its first cut zoom, over
// 14) keeps the bounding-box answer.
func TestCoverageWithPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	box := map[uint32]struct{}{}
	for x := 800; x < 830; x++ {
		for y := 500; y < 530; y++ {
			box[uint32(x)<<16|uint32(y)] = struct{}{}
		}
	}
	p := &PieceSet{Stamp: 7}
	held := map[[3]int]bool{}
	for z := range p.cut {
		p.cut[z] = TileCut("kecamatan", z)
		if !p.cut[z] {
			continue
		}
		// Pieces on a few tiles inside the box, and one outside it (the
		// box coverage would not know it).
		set := map[uint32]bool{}
		for range 50 {
			x, y := (800<<z>>10)+r.IntN(max(1, 30<<z>>10)), (500<<z>>10)+r.IntN(max(1, 30<<z>>10))
			set[uint32(x)<<16|uint32(y)] = true
		}
		set[0] = true
		for k := range set {
			p.tiles[z] = append(p.tiles[z], k)
			held[[3]int{z, int(k >> 16), int(k & 0xffff)}] = true
		}
		slices.Sort(p.tiles[z])
	}
	bbox := NewCoverage(box)
	c := bbox.WithPieces(p)
	checked := map[bool]int{}
	for z := 0; z <= 16; z++ {
		for range 4000 {
			var x, y int
			if r.IntN(2) == 0 { // inside the box's tiles, or near them
				n := max(1, 40<<z>>10)
				x, y = min(1<<z-1, (795<<z>>10)+r.IntN(n)), min(1<<z-1, (495<<z>>10)+r.IntN(n))
			} else {
				x, y = r.IntN(1<<z), r.IntN(1<<z)
			}
			want := bbox.Covers(z, x, y)
			if z <= 14 && TileCut("kecamatan", z) {
				want = held[[3]int{z, x, y}]
				checked[want]++
			}
			if got := c.Covers(z, x, y); got != want {
				t.Fatalf("%d/%d/%d: covered %v, want %v", z, x, y, got, want)
			}
		}
		// Every tile holding a piece is covered, even outside the box.
		for k := range held {
			if k[0] == z && !c.Covers(k[0], k[1], k[2]) {
				t.Fatalf("%v holds a piece but is not covered", k)
			}
		}
	}
	if checked[true] == 0 || checked[false] == 0 {
		t.Errorf("the cut zooms were checked on %d tiles with pieces and %d without: want both", checked[true], checked[false])
	}
	if c0 := bbox.WithPieces(nil); c0.Covers(14, 0, 0) != bbox.Covers(14, 0, 0) {
		t.Error("a coverage without pieces answers differently from the box coverage")
	}
}
