package catalog

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kesempatan/riskmap/internal/postgres/core"
)

// Tile properties in the service's memory. A deep tile read through the
// properties written ahead (PropsTileSQL) costs, cold, the index leaf and
// heap page of its pieces and the same again for its areas' tile_props:
// on the country's data that was half the page reads of a land tile, at a
// quarter of a millisecond each. The properties change only with the map
// generation, so the service reads a layer's tile_props once per
// generation into memory (MemProps), asks the database for the tile's
// pieces alone, each with its code (memTileSQL), and puts each area's
// properties onto its piece in Go (MemProps.merge): the bytes PropsTileSQL
// builds, which TestMemTile checks tile by tile.

// MemProps is one collection's tile properties as of one map generation,
// held as each value's MVT encoding, interned: an area's row is the value
// ids of its id, its TileFields and, if the collection has a seasonal
// score, its twelve months.
type MemProps struct {
	Generation int64
	id         string           // the collection, the tile's layer name
	keys       []string         // the layer's keys: id, TileFields, seasonal_score
	from       []int            // per key: the zoom it is carried from (TileZoom)
	seasonal   bool             // the last key is seasonal_score
	width      int              // values per area
	rows       map[string]int32 // area code: its row
	vals       []uint32         // row*width+k: 1 + an index into values, 0 for null
	values     [][]byte         // distinct Value messages, encoded
	scratch    sync.Pool        // *scratch for merge, sized to values
}

// Areas is how many areas' properties p holds.
func (p *MemProps) Areas() int { return len(p.rows) }

// LoadMemProps reads collection c's tile properties into memory, or
// returns nil when they are not current (not written at the generation
// map_state is at, or under another Recipe): the rows and the generation
// come from one repeatable-read snapshot.
func (st *Store) LoadMemProps(ctx context.Context, c *Collection) (*MemProps, error) {
	if !HasTileProps(c) {
		return nil, nil
	}
	done, err := st.warmTurn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	tx, err := st.db.TileReader().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, core.Wrap(err)
	}
	defer tx.Rollback(ctx)
	var gen int64
	err = tx.QueryRow(ctx, `SELECT g.generation FROM tile_props_state s, map_state g
		WHERE s.collection = $1 AND s.generation = g.generation AND s.recipe = $2`, c.ID, Recipe(c)).Scan(&gen)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, core.Wrap(err)
	}
	fields := TileFields(c)
	p := &MemProps{Generation: gen, id: c.ID, seasonal: c.Month != "", rows: map[string]int32{}}
	p.keys = append(p.keys, "id")
	p.from = append(p.from, 0)
	for _, f := range fields {
		p.keys = append(p.keys, f.Name)
		p.from = append(p.from, f.TileZoom)
	}
	p.width = 1 + len(fields)
	if p.seasonal {
		p.keys = append(p.keys, "seasonal_score")
		p.from = append(p.from, 0)
		p.width += 12
	}
	interned := map[string]uint32{}
	intern := func(v []byte) uint32 {
		if id, ok := interned[string(v)]; ok {
			return id
		}
		p.values = append(p.values, v)
		id := uint32(len(p.values))
		interned[string(v)] = id
		return id
	}
	rows, err := tx.Query(ctx, `SELECT code, t, f, i, b, m FROM tile_props WHERE collection = $1 ORDER BY code`, c.ID)
	if err != nil {
		return nil, core.Wrap(err)
	}
	defer rows.Close()
	var (
		code string
		t    []pgtype.Text
		f    []pgtype.Float8
		i    []pgtype.Int8
		b    []pgtype.Bool
		m    []pgtype.Float8
	)
	for rows.Next() {
		if err := rows.Scan(&code, &t, &f, &i, &b, &m); err != nil {
			return nil, core.Wrap(err)
		}
		p.rows[code] = int32(len(p.vals) / p.width)
		p.vals = append(p.vals, intern(stringValue(code)))
		var n [4]int // values taken from t, f, i, b
		for _, fd := range fields {
			var v []byte
			switch propsType[fd.Type].column {
			case "t":
				if n[0] < len(t) && t[n[0]].Valid {
					v = stringValue(t[n[0]].String)
				}
				n[0]++
			case "f":
				if n[1] < len(f) && f[n[1]].Valid {
					v = doubleValue(f[n[1]].Float64)
				}
				n[1]++
			case "i":
				if n[2] < len(i) && i[n[2]].Valid {
					v = intValue(i[n[2]].Int64)
				}
				n[2]++
			case "b":
				if n[3] < len(b) && b[n[3]].Valid {
					v = boolValue(b[n[3]].Bool)
				}
				n[3]++
			}
			var id uint32
			if v != nil {
				id = intern(v)
			}
			p.vals = append(p.vals, id)
		}
		if p.seasonal {
			for k := 0; k < 12; k++ {
				var id uint32
				if k < len(m) && m[k].Valid {
					id = intern(doubleValue(m[k].Float64))
				}
				p.vals = append(p.vals, id)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, core.Wrap(err)
	}
	return p, nil
}

// The Value messages of the vector tile specification (2.1), encoded as
// PostGIS's ST_AsMVT encodes them: text as string_value, float8 as
// double_value, an integer as uint_value when it is not negative and as
// sint_value otherwise, a boolean as bool_value.
func stringValue(s string) []byte {
	return append(binary.AppendUvarint([]byte{1<<3 | 2}, uint64(len(s))), s...)
}

func doubleValue(f float64) []byte {
	return binary.LittleEndian.AppendUint64([]byte{3<<3 | 1}, math.Float64bits(f))
}

func intValue(i int64) []byte {
	if i >= 0 {
		return binary.AppendUvarint([]byte{5 << 3}, uint64(i))
	}
	return binary.AppendUvarint([]byte{6 << 3}, uint64(i<<1)^uint64(i>>63))
}

func boolValue(b bool) []byte {
	if b {
		return []byte{7 << 3, 1}
	}
	return []byte{7 << 3, 0}
}

// memTileSQL selects, for the tile $1/$2/$3 of c's layer, the map
// generation in the statement's snapshot and, only when it is $4 (the
// generation of the properties in memory), the tile of the pieces alone,
// each with its code as its one property, in code order.
func memTileSQL(c *Collection) string {
	key := c.ID + "|mem"
	if q, ok := tileSQLs.Load(key); ok {
		return q.(string)
	}
	layer := quoteLiteral(c.TileLayer)
	q := `SELECT g.generation, CASE WHEN g.generation = $4::int8 THEN (
			SELECT coalesce(ST_AsMVT(f.*, ` + quoteLiteral(c.ID) + `, 4096, 'geom'), '') FROM (
				SELECT tp.geom AS geom, tp.code AS id FROM tile_piece tp
				WHERE tile_cut(` + layer + `, $1::int) AND tp.layer = ` + layer + ` AND tp.z = $1::int AND tp.x = $2::int AND tp.y = $3::int
				ORDER BY tp.code) f) END
		FROM map_state g`
	tileSQLs.Store(key, q)
	return q
}

// errSplice is a pieces tile merge cannot read: not what memTileSQL
// returns, so the caller builds the tile another way.
var errSplice = errors.New("tile of pieces: unexpected encoding")

// merge returns the tile at zoom z for month (0: annual) that PropsTileSQL
// builds, from pieces, the tile memTileSQL returns: each piece's geometry
// as PostGIS encoded it, with its area's properties from p, keys in
// column order and values in the order of first use, as ST_AsMVT lays
// them out. A piece whose area p does not hold is left out, as the join
// to tile_props leaves it out.
func (p *MemProps) merge(pieces []byte, z, month int) ([]byte, error) {
	if len(pieces) == 0 {
		return nil, nil
	}
	layer, err := onlyField(pieces, 3)
	if err != nil {
		return nil, err
	}
	var (
		codes  [][]byte
		feats  [][]byte
		extent uint64 = 4096
		ver    uint64 = 2
	)
	for len(layer) > 0 {
		num, wt, body, rest, err := field(layer)
		if err != nil {
			return nil, err
		}
		layer = rest
		switch {
		case num == 2 && wt == 2:
			feats = append(feats, body)
		case num == 4 && wt == 2:
			s, err := onlyField(body, 1)
			if err != nil {
				return nil, err
			}
			codes = append(codes, s)
		case num == 5 && wt == 0:
			extent, _ = binary.Uvarint(body)
		case num == 15 && wt == 0:
			ver, _ = binary.Uvarint(body)
		}
	}
	// The features, with their new tags. A value's id in this tile is
	// looked up by its id in p (scratch), not hashed: a zoom-11 village
	// tile puts some 1,700 values.
	sc, _ := p.scratch.Get().(*scratch)
	if sc == nil || len(sc.mark) <= len(p.values) {
		sc = newScratch(len(p.values))
	}
	defer p.scratch.Put(sc)
	sc.next()
	order := make([]uint32, 0, len(feats)*len(p.keys)) // the values' ids in p, in first use
	tags := sc.tags[:0]
	features := make([]byte, 0, len(pieces)+len(feats)*8*len(p.keys))
	for _, fb := range feats {
		var code = -1
		var geom []byte
		var typ uint64
		hasType := false
		for len(fb) > 0 {
			num, wt, body, rest, err := field(fb)
			if err != nil {
				return nil, err
			}
			fb = rest
			switch {
			case num == 2 && wt == 2:
				// tags: key 0 (id), the value of the piece's code
				k, n1 := binary.Uvarint(body)
				v, n2 := binary.Uvarint(body[max(n1, 0):])
				if n1 <= 0 || n2 <= 0 || k != 0 || int(v) >= len(codes) {
					return nil, errSplice
				}
				code = int(v)
			case num == 3 && wt == 0:
				typ, _ = binary.Uvarint(body)
				hasType = true
			case num == 4 && wt == 2:
				geom = body
			}
		}
		if code < 0 || geom == nil {
			return nil, errSplice
		}
		row, ok := p.rows[string(codes[code])]
		if !ok {
			continue
		}
		vals := p.vals[int(row)*p.width : int(row+1)*p.width]
		tags = tags[:0]
		for k := range p.keys {
			var g uint32
			switch {
			case p.seasonal && k == len(p.keys)-1:
				if month >= 1 && month <= 12 {
					g = vals[len(vals)-13+month]
				}
			case z >= p.from[k]:
				g = vals[k]
			}
			if g == 0 {
				continue
			}
			l, ok := sc.local(g)
			if !ok {
				l = uint32(len(order))
				sc.set(g, l)
				order = append(order, g)
			}
			tags = binary.AppendUvarint(tags, uint64(k))
			tags = binary.AppendUvarint(tags, uint64(l))
		}
		// The feature: tags (2), type (3), geometry (4), written in place
		// after its length.
		size := 1 + uvarintLen(uint64(len(tags))) + len(tags) + 1 + uvarintLen(uint64(len(geom))) + len(geom)
		if hasType {
			size += 1 + uvarintLen(typ)
		}
		features = append(features, 2<<3|2)
		features = binary.AppendUvarint(features, uint64(size))
		features = appendBytes(features, 2, tags)
		if hasType {
			features = append(features, 3<<3)
			features = binary.AppendUvarint(features, typ)
		}
		features = appendBytes(features, 4, geom)
	}
	sc.tags = tags
	if len(features) == 0 {
		return nil, nil // no row reached ST_AsMVT: ''
	}
	// The layer (name, features, keys, values, extent, version: the order
	// ST_AsMVT writes them in) in the tile, allocated once.
	size := 1 + uvarintLen(uint64(len(p.id))) + len(p.id) + len(features) + 1 + uvarintLen(extent) + 1 + uvarintLen(ver)
	for _, k := range p.keys {
		size += 1 + uvarintLen(uint64(len(k))) + len(k)
	}
	for _, g := range order {
		size += 1 + uvarintLen(uint64(len(p.values[g-1]))) + len(p.values[g-1])
	}
	out := make([]byte, 0, 1+uvarintLen(uint64(size))+size)
	out = append(out, 3<<3|2)
	out = binary.AppendUvarint(out, uint64(size))
	out = appendBytes(out, 1, []byte(p.id))
	out = append(out, features...)
	for _, k := range p.keys {
		out = appendBytes(out, 3, []byte(k))
	}
	for _, g := range order {
		out = appendBytes(out, 4, p.values[g-1])
	}
	out = append(out, 5<<3)
	out = binary.AppendUvarint(out, extent)
	out = append(out, 15<<3)
	out = binary.AppendUvarint(out, ver)
	return out, nil
}

// interiorGeometry is InteriorSquare as ST_AsMVT encodes it: MoveTo
// (4160, -64), LineTo by (0, 4224), (-4224, 0), (0, -4224), ClosePath.
var interiorGeometry = func() []byte {
	var b []byte
	for _, v := range []uint64{1 | 1<<3, 8320, 127, 2 | 3<<3, 0, 8448, 8447, 0, 0, 8447, 7 | 1<<3} {
		b = binary.AppendUvarint(b, v)
	}
	return b
}()

// InteriorTile is the tile at zoom z for month whose one piece is
// InteriorSquare of area code: the bytes PropsTileSQL builds for it, from
// memory alone.
func (p *MemProps) InteriorTile(code string, z, month int) ([]byte, error) {
	var f []byte
	f = appendBytes(f, 2, []byte{0, 0}) // tags: id = the layer's first value
	f = append(f, 3<<3, 3)              // POLYGON
	f = appendBytes(f, 4, interiorGeometry)
	var l []byte
	l = appendBytes(l, 1, []byte(p.id))
	l = appendBytes(l, 2, f)
	l = appendBytes(l, 3, []byte("id"))
	l = appendBytes(l, 4, stringValue(code))
	l = append(l, 5<<3)
	l = binary.AppendUvarint(l, 4096)
	l = append(l, 15<<3, 2)
	return p.merge(appendBytes(nil, 3, l), z, month)
}

// uvarintLen is the length of v as a varint.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// scratch maps the ids of a MemProps' values to their ids in one tile
// (merge): a mark per value says whether the value was met in this tile,
// by the tile's number, so nothing is cleared between tiles.
type scratch struct {
	tile uint32
	mark []uint32 // per value id: the tile it was last met in
	ids  []uint32 // per value id: its id in that tile
	tags []byte
}

func newScratch(values int) *scratch {
	return &scratch{mark: make([]uint32, values+1), ids: make([]uint32, values+1)}
}

// next starts a tile.
func (sc *scratch) next() {
	sc.tile++
	if sc.tile == 0 { // wrapped: no mark may look current
		clear(sc.mark)
		sc.tile = 1
	}
}

func (sc *scratch) local(g uint32) (uint32, bool) {
	if sc.mark[g] == sc.tile {
		return sc.ids[g], true
	}
	return 0, false
}

func (sc *scratch) set(g, l uint32) { sc.mark[g], sc.ids[g] = sc.tile, l }

// appendBytes appends field num as a length-delimited field.
func appendBytes(b []byte, num int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// field reads one protobuf field off b: its number, its wire type, its
// body (a varint's bytes, or a length-delimited field's contents) and the
// rest of b.
func field(b []byte) (num, wt int, body, rest []byte, err error) {
	key, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, nil, nil, errSplice
	}
	b = b[n:]
	num, wt = int(key>>3), int(key&7)
	switch wt {
	case 0:
		_, m := binary.Uvarint(b)
		if m <= 0 {
			return 0, 0, nil, nil, errSplice
		}
		return num, wt, b[:m], b[m:], nil
	case 1:
		if len(b) < 8 {
			return 0, 0, nil, nil, errSplice
		}
		return num, wt, b[:8], b[8:], nil
	case 2:
		l, m := binary.Uvarint(b)
		if m <= 0 || uint64(len(b)-m) < l {
			return 0, 0, nil, nil, errSplice
		}
		return num, wt, b[m : m+int(l)], b[m+int(l):], nil
	case 5:
		if len(b) < 4 {
			return 0, 0, nil, nil, errSplice
		}
		return num, wt, b[:4], b[4:], nil
	}
	return 0, 0, nil, nil, errSplice
}

// onlyField returns the contents of b's one field, length-delimited
// field num.
func onlyField(b []byte, num int) ([]byte, error) {
	n, wt, body, rest, err := field(b)
	if err != nil || n != num || wt != 2 || len(rest) != 0 {
		return nil, errSplice
	}
	return body, nil
}

// memProps keeps, per collection, the properties in memory (MemProps) and
// whether a load is under way; a load that finds the properties not
// current is tried again a second later at the soonest.
type memProps struct {
	mu      sync.Mutex
	byID    map[string]*MemProps
	seen    map[string]int64 // the newest generation a tile statement read
	loading map[string]bool
	tried   map[string]time.Time
	done    map[string]bool // a load has finished, finding properties or not
}

// get returns c's properties in memory if they are of the generation a
// tile statement last read (seen: 0 when it read theirs), and otherwise
// starts a read, at most one at a time and one a second. The generation
// only has to differ, not be newer: a database restored from a backup can
// be at an older one.
func (mp *memProps) get(st *Store, c *Collection, seen int64) *MemProps {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if mp.byID == nil {
		mp.byID, mp.seen, mp.loading, mp.tried, mp.done = map[string]*MemProps{}, map[string]int64{}, map[string]bool{}, map[string]time.Time{}, map[string]bool{}
	}
	if seen != 0 {
		mp.seen[c.ID] = seen
	}
	p := mp.byID[c.ID]
	if p != nil && (mp.seen[c.ID] == 0 || p.Generation == mp.seen[c.ID]) {
		return p
	}
	if !mp.loading[c.ID] && time.Since(mp.tried[c.ID]) > time.Second {
		mp.loading[c.ID] = true
		mp.tried[c.ID] = time.Now()
		go mp.load(st, c)
	}
	return nil
}

// load reads c's properties; one load runs at a time, so what it read is
// the newest snapshot, current or not (nil). If a statement has read
// another generation meanwhile, get reads them again.
func (mp *memProps) load(st *Store, c *Collection) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := st.LoadMemProps(ctx, c)
	mp.mu.Lock()
	defer mp.mu.Unlock()
	mp.loading[c.ID] = false
	if err != nil {
		return
	}
	mp.done[c.ID] = true
	mp.byID[c.ID] = p
}

// WarmTileProps starts reading c's tile properties into memory in the
// background, if it has them, so the first deep tiles after a start are
// not built while they are read.
func (st *Store) WarmTileProps(c *Collection) {
	if HasTileProps(c) {
		st.mem.get(st, c, 0)
	}
}

// TilePropsInMemory is the map generation of the tile properties of
// collection id the service holds in memory, 0 if none, and whether a
// read of them has finished (finding them current or not).
func (st *Store) TilePropsInMemory(id string) (int64, bool) {
	st.mem.mu.Lock()
	defer st.mem.mu.Unlock()
	if p := st.mem.byID[id]; p != nil {
		return p.Generation, true
	}
	return 0, st.mem.done[id]
}

// Where is where a tile's pieces lie in tile_piece (PieceSet.Pieces):
// their rows' ctids, at map_state.pieces Stamp. A tile built from them
// checks, in its statement, that the stamp is still map_state's and that it
// found as many pieces as it looked for; otherwise (the pieces were cut
// again, or the table was rewritten by CLUSTER or VACUUM FULL, which moves
// rows without cutting them again) it looks them up by their key.
//
// Inner is the area whose interior tile it is (PieceSet.Interior), and
// Generation the map generation of the data version the caller serves:
// such a tile is built from memory alone when the properties held are of
// that generation, as the caller's tile cache serves a tile built under
// it.
type Where struct {
	Stamp      int64
	TIDs       []uint64
	Inner      string
	Generation int64
}

// MemTile builds tile z/x/y of c for month from its pieces and the
// properties p, if p is of the map generation the statement reads: gen is
// that generation, and b is the tile only when gen is p's. The pieces are
// read where at says, when at holds them and is current, and found by the
// key's index otherwise; moved reports that at was not current.
func (st *Store) MemTile(ctx context.Context, c *Collection, p *MemProps, z, x, y, month int, at Where) (b []byte, gen int64, moved bool, err error) {
	var pieces []byte
	if len(at.TIDs) > 0 {
		tids := make([]pgtype.TID, len(at.TIDs))
		for i, t := range at.TIDs {
			tids[i] = pgtype.TID{BlockNumber: uint32(t >> 16), OffsetNumber: uint16(t), Valid: true}
		}
		var stamp int64
		var n *int64
		err := st.db.TileReader().QueryRow(ctx, memTIDSQL(c), z, x, y, p.Generation, tids, at.Stamp).Scan(&gen, &stamp, &n, &pieces)
		switch {
		case err != nil:
			return nil, 0, false, core.Wrap(err)
		case gen != p.Generation:
			return nil, gen, false, nil
		case stamp == at.Stamp && n != nil && int(*n) == len(tids):
			b, err = p.merge(pieces, z, month)
			return b, gen, false, err
		}
		moved = true
	}
	if err := st.db.TileReader().QueryRow(ctx, memTileSQL(c), z, x, y, p.Generation).Scan(&gen, &pieces); err != nil {
		return nil, 0, moved, core.Wrap(err)
	}
	if gen != p.Generation {
		return nil, gen, moved, nil
	}
	b, err = p.merge(pieces, z, month)
	return b, gen, moved, err
}

// memTIDSQL is memTileSQL reading the pieces by their ctids ($5) (a TID
// scan, fenced by OFFSET 0 so the planner does not take the key's index
// for the check on the key that follows), with
// the pieces' stamp ($6) and the count of rows found: the map generation,
// map_state.pieces, and, only when both are the expected ones, the count
// and the tile.
func memTIDSQL(c *Collection) string {
	key := c.ID + "|tid"
	if q, ok := tileSQLs.Load(key); ok {
		return q.(string)
	}
	layer := quoteLiteral(c.TileLayer)
	q := `SELECT g.generation, g.pieces, m.n, m.mvt
		FROM map_state g
		LEFT JOIN LATERAL (
			SELECT count(*) AS n, coalesce(ST_AsMVT(f.*, ` + quoteLiteral(c.ID) + `, 4096, 'geom'), '') AS mvt FROM (
				SELECT tp.geom AS geom, tp.code AS id
				FROM (SELECT * FROM tile_piece WHERE ctid = ANY($5::tid[]) OFFSET 0) tp
				WHERE tile_cut(` + layer + `, $1::int) AND tp.layer = ` + layer + `
				  AND tp.z = $1::int AND tp.x = $2::int AND tp.y = $3::int
				ORDER BY tp.code) f) m ON g.generation = $4::int8 AND g.pieces = $6::int8`
	tileSQLs.Store(key, q)
	return q
}

// memTile is MemTile with p, the properties the service holds (nil:
// none); ok is false when they are not of the generation the statement
// reads (the new ones are then read in the background), or the pieces
// could not be read, and the caller builds the tile another way.
func (st *Store) memTile(ctx context.Context, c *Collection, p *MemProps, z, x, y, month int, at Where) (b []byte, ok, moved bool, err error) {
	if p == nil {
		return nil, false, false, nil
	}
	b, gen, moved, err := st.MemTile(ctx, c, p, z, x, y, month, at)
	switch {
	case errors.Is(err, errSplice):
		return nil, false, moved, nil
	case err != nil:
		return nil, false, moved, err
	case gen != p.Generation:
		st.mem.get(st, c, gen)
		return nil, false, moved, nil
	}
	return b, true, moved, nil
}
