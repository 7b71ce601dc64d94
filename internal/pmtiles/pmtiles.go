// Package pmtiles writes vector tiles as one PMTiles v3 archive
// (github.com/protomaps/go-pmtiles for the format's directories and
// header): a file any object store or CDN serves to MapLibre with HTTP
// range requests, and no database behind it.
package pmtiles

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	gopm "github.com/protomaps/go-pmtiles/pmtiles"
)

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
		return gopm.ZxyToID(tiles[i].Z, tiles[i].X, tiles[i].Y) < gopm.ZxyToID(tiles[j].Z, tiles[j].X, tiles[j].Y)
	})
	var data bytes.Buffer
	seen := map[[32]byte]gopm.EntryV3{}
	var entries []gopm.EntryV3
	for _, t := range tiles {
		if len(t.Gzip) == 0 {
			continue
		}
		id := gopm.ZxyToID(t.Z, t.X, t.Y)
		st.Addressed++
		h := sha256.Sum256(t.Gzip)
		if e, ok := seen[h]; ok {
			// Identical to a tile stored already: point at it, or extend
			// the previous entry's run when it is the same tile next door.
			if last := &entries[len(entries)-1]; last.Offset == e.Offset && last.TileID+uint64(last.RunLength) == id {
				last.RunLength++
				continue
			}
			entries = append(entries, gopm.EntryV3{TileID: id, Offset: e.Offset, Length: e.Length, RunLength: 1})
			continue
		}
		e := gopm.EntryV3{TileID: id, Offset: uint64(data.Len()), Length: uint32(len(t.Gzip)), RunLength: 1}
		data.Write(t.Gzip)
		seen[h] = e
		entries = append(entries, e)
		st.Contents++
	}
	st.Entries = len(entries)
	if len(entries) == 0 {
		return st, fmt.Errorf("pmtiles: no tile to write")
	}
	root, leaves, _ := gopm.BuildDirectories(entries, 16384-gopm.HeaderV3LenBytes, gopm.Gzip)
	meta, err := gopm.SerializeMetadata(a.Metadata, gopm.Gzip)
	if err != nil {
		return st, err
	}
	e7 := func(x float64) int32 { return int32(math.Round(x * 1e7)) }
	h := gopm.HeaderV3{SpecVersion: 3, Clustered: true, InternalCompression: gopm.Gzip, TileCompression: gopm.Gzip, TileType: gopm.Mvt,
		MinZoom: a.MinZoom, MaxZoom: a.MaxZoom, MinLonE7: e7(a.MinLon), MinLatE7: e7(a.MinLat), MaxLonE7: e7(a.MaxLon), MaxLatE7: e7(a.MaxLat),
		CenterZoom: a.MinZoom, CenterLonE7: e7((a.MinLon + a.MaxLon) / 2), CenterLatE7: e7((a.MinLat + a.MaxLat) / 2),
		AddressedTilesCount: uint64(st.Addressed), TileEntriesCount: uint64(st.Entries), TileContentsCount: uint64(st.Contents)}
	h.RootOffset, h.RootLength = gopm.HeaderV3LenBytes, uint64(len(root))
	h.MetadataOffset, h.MetadataLength = h.RootOffset+h.RootLength, uint64(len(meta))
	h.LeafDirectoryOffset, h.LeafDirectoryLength = h.MetadataOffset+h.MetadataLength, uint64(len(leaves))
	h.TileDataOffset, h.TileDataLength = h.LeafDirectoryOffset+h.LeafDirectoryLength, uint64(data.Len())
	for _, part := range [][]byte{gopm.SerializeHeader(h), root, meta, leaves, data.Bytes()} {
		if _, err := w.Write(part); err != nil {
			return st, err
		}
	}
	st.Bytes = int64(h.TileDataOffset + h.TileDataLength)
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
