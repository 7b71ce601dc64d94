// Package pmtiles writes vector tiles as one PMTiles v3 archive
// (https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md): a file
// any object store or CDN serves to MapLibre with HTTP range requests, and
// no database behind it. The format is small enough to write here: the
// protomaps Go module would have brought 300 MB of cloud SDKs and SQLite
// into the build for four functions. The test reads archives back with the
// protomaps JavaScript library, the reader map pages use.
package pmtiles

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
)

// The format's codes (spec v3).
const (
	headerLen       = 127
	compressionGzip = 2
	tileTypeMVT     = 1
	maxRootLen      = 16384 - headerLen
)

// entry is a directory entry: a run of RunLength tiles from TileID sharing
// the bytes at Offset (RunLength 0: a leaf directory).
type entry struct {
	TileID    uint64
	Offset    uint64
	Length    uint32
	RunLength uint32
}

// TileID is the tile's position on the archive's Hilbert curve: the tiles
// of every lower zoom, then the Hilbert index of (x, y) at zoom z.
func TileID(z uint8, x, y uint32) uint64 {
	acc := (uint64(1)<<(2*uint64(z)) - 1) / 3
	for a := int(z) - 1; a >= 0; a-- {
		s := uint32(1) << a
		rx, ry := uint32(0), uint32(0)
		if x&s != 0 {
			rx = 1
		}
		if y&s != 0 {
			ry = 1
		}
		acc += uint64(s) * uint64(s) * uint64((3*rx)^ry)
		// rotate the quadrant
		if ry == 0 {
			if rx == 1 {
				x, y = s-1-x&(s-1), s-1-y&(s-1)
			}
			x, y = y, x
		}
	}
	return acc
}

// serializeEntries writes a directory: the count, then tile ids as deltas,
// run lengths, lengths, and offsets (0: right after the previous entry's
// bytes, else offset+1), as unsigned varints, gzip-compressed.
func serializeEntries(es []entry) []byte {
	var raw bytes.Buffer
	put := func(v uint64) {
		var b [binary.MaxVarintLen64]byte
		raw.Write(b[:binary.PutUvarint(b[:], v)])
	}
	put(uint64(len(es)))
	last := uint64(0)
	for _, e := range es {
		put(e.TileID - last)
		last = e.TileID
	}
	for _, e := range es {
		put(uint64(e.RunLength))
	}
	for _, e := range es {
		put(uint64(e.Length))
	}
	for i, e := range es {
		if i > 0 && e.Offset == es[i-1].Offset+uint64(es[i-1].Length) {
			put(0)
		} else {
			put(e.Offset + 1)
		}
	}
	return gzipped(raw.Bytes())
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	w, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// directories returns the root directory and the leaf directories: the
// entries themselves when they fit in the root, else leaves of n entries
// (n doubling until the root of leaf pointers fits).
func directories(es []entry) (root, leaves []byte) {
	if r := serializeEntries(es); len(r) <= maxRootLen {
		return r, nil
	}
	for n := 4096; ; n *= 2 {
		var rootEntries []entry
		var lb bytes.Buffer
		for i := 0; i < len(es); i += n {
			leaf := serializeEntries(es[i:min(i+n, len(es))])
			rootEntries = append(rootEntries, entry{TileID: es[i].TileID, Offset: uint64(lb.Len()), Length: uint32(len(leaf))})
			lb.Write(leaf)
		}
		if r := serializeEntries(rootEntries); len(r) <= maxRootLen {
			return r, lb.Bytes()
		}
	}
}

// Tile is one encoded tile, gzip-compressed.
type Tile struct {
	Z    uint8
	X, Y uint32
	Gzip []byte
}

// Archive describes the archive: its zooms, bounds and metadata (TileJSON's
// name, attribution, vector_layers).
type Archive struct {
	MinZoom, MaxZoom               uint8
	MinLon, MinLat, MaxLon, MaxLat float64
	Metadata                       map[string]any
}

// Write writes the tiles (empty ones left out) as a clustered PMTiles v3
// archive: identical tiles stored once, the directories gzip-compressed,
// leaf directories when the root would pass 16 kB.
func Write(w io.Writer, a Archive, tiles []Tile) (Stats, error) {
	var st Stats
	sort.Slice(tiles, func(i, j int) bool {
		return TileID(tiles[i].Z, tiles[i].X, tiles[i].Y) < TileID(tiles[j].Z, tiles[j].X, tiles[j].Y)
	})
	var data bytes.Buffer
	seen := map[[32]byte]entry{}
	var entries []entry
	for _, t := range tiles {
		if len(t.Gzip) == 0 {
			continue
		}
		id := TileID(t.Z, t.X, t.Y)
		st.Addressed++
		h := sha256.Sum256(t.Gzip)
		if e, ok := seen[h]; ok {
			// Identical to a tile stored already: point at it, or extend
			// the previous entry's run when it is the same tile next door.
			if last := &entries[len(entries)-1]; last.Offset == e.Offset && last.TileID+uint64(last.RunLength) == id {
				last.RunLength++
				continue
			}
			entries = append(entries, entry{TileID: id, Offset: e.Offset, Length: e.Length, RunLength: 1})
			continue
		}
		e := entry{TileID: id, Offset: uint64(data.Len()), Length: uint32(len(t.Gzip)), RunLength: 1}
		data.Write(t.Gzip)
		seen[h] = e
		entries = append(entries, e)
		st.Contents++
	}
	st.Entries = len(entries)
	if len(entries) == 0 {
		return st, fmt.Errorf("pmtiles: no tile to write")
	}
	root, leaves := directories(entries)
	meta, err := json.Marshal(a.Metadata)
	if err != nil {
		return st, err
	}
	meta = gzipped(meta)
	e7 := func(x float64) int32 { return int32(math.Round(x * 1e7)) }
	// The header: magic and version, eleven 64-bit little-endian offsets,
	// lengths and counts, six bytes of flags and zooms, the bounds and
	// centre in 1e-7 degrees.
	rootOff := uint64(headerLen)
	metaOff := rootOff + uint64(len(root))
	leafOff := metaOff + uint64(len(meta))
	dataOff := leafOff + uint64(len(leaves))
	var h bytes.Buffer
	h.WriteString("PMTiles")
	h.WriteByte(3)
	for _, v := range []uint64{rootOff, uint64(len(root)), metaOff, uint64(len(meta)), leafOff, uint64(len(leaves)), dataOff, uint64(data.Len()),
		uint64(st.Addressed), uint64(st.Entries), uint64(st.Contents)} {
		binary.Write(&h, binary.LittleEndian, v)
	}
	h.Write([]byte{1, compressionGzip, compressionGzip, tileTypeMVT, a.MinZoom, a.MaxZoom}) // clustered
	for _, v := range []int32{e7(a.MinLon), e7(a.MinLat), e7(a.MaxLon), e7(a.MaxLat)} {
		binary.Write(&h, binary.LittleEndian, v)
	}
	h.WriteByte(a.MinZoom)
	binary.Write(&h, binary.LittleEndian, e7((a.MinLon+a.MaxLon)/2))
	binary.Write(&h, binary.LittleEndian, e7((a.MinLat+a.MaxLat)/2))
	if h.Len() != headerLen {
		return st, fmt.Errorf("pmtiles: header of %d bytes", h.Len())
	}
	for _, part := range [][]byte{h.Bytes(), root, meta, leaves, data.Bytes()} {
		if _, err := w.Write(part); err != nil {
			return st, err
		}
	}
	st.Bytes = int64(dataOff) + int64(data.Len())
	return st, nil
}

// Stats is what an archive holds.
type Stats struct {
	Addressed, Entries, Contents int
	Bytes                        int64
}

// VectorLayer is a TileJSON vector_layers entry.
func VectorLayer(id string, fields map[string]string, minZoom, maxZoom int) map[string]any {
	return map[string]any{"id": id, "fields": fields, "minzoom": minZoom, "maxzoom": maxZoom}
}

// MarshalMetadata is the metadata as JSON (for tests and logs).
func MarshalMetadata(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}
