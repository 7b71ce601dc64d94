package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/paulmach/orb"
)

// VillageShape is a village's code, name and polygon.
type VillageShape struct {
	Code, Name, KecamatanCode string
	Geom                      orb.MultiPolygon
}

// VillageShapes returns every village with its polygon, in code order.
func (st *Store) VillageShapes(ctx context.Context) ([]VillageShape, error) {
	rows, err := st.db.Reader().Query(ctx, `SELECT code, name, kecamatan_code, ST_AsEWKB(geom) FROM village ORDER BY code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []VillageShape
	for rows.Next() {
		var v VillageShape
		var b []byte
		if err := rows.Scan(&v.Code, &v.Name, &v.KecamatanCode, &b); err != nil {
			return nil, err
		}
		if v.Geom, err = core.DecodeMultiPolygon(b); err != nil {
			return nil, fmt.Errorf("village %s: %w", v.Code, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Counts returns the number of rows in riskmap's main tables.
func (st *Store) Counts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for _, t := range []string{"kabupaten", "kecamatan", "village", "household", "child", "plantation", "labour_calendar"} {
		var n int
		if err := st.db.Reader().QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, nil
}

// AreaFeature is one area of a public collection: its geometry and its
// tile fields' values (TileFields), typed: nil, bool, int64, float64 or
// string.
type AreaFeature struct {
	Geom   orb.MultiPolygon
	Values []any
}

// AreaFeatures returns every feature of a public area collection (villages,
// kecamatan, kabupaten) with the scalar properties its tiles carry, in id
// order: what a static export writes in binary formats.
func (st *Store) AreaFeatures(ctx context.Context, c *Collection) ([]Property, []AreaFeature, error) {
	if c.Private || c.GeometryType != "MultiPolygon" {
		return nil, nil, fmt.Errorf("%s: not a public area collection", c.ID)
	}
	props := TileFields(c)
	cast := map[string]string{"number": "::float8", "integer": "::int8", "boolean": "::boolean", "string": "::text"}
	cols := []string{"ST_AsEWKB(" + c.Geom + ")"}
	for _, p := range props {
		cols = append(cols, "("+p.Expr+")"+cast[p.Type])
	}
	where := ""
	if c.Where != "" {
		where = " WHERE " + c.Where
	}
	rows, err := st.db.Reader().Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+c.From+where+" ORDER BY "+c.key())
	if err != nil {
		return nil, nil, core.Wrap(err)
	}
	defer rows.Close()
	var out []AreaFeature
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, nil, err
		}
		g, err := core.DecodeMultiPolygon(vals[0].([]byte))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", c.ID, err)
		}
		out = append(out, AreaFeature{Geom: g, Values: vals[1:]})
	}
	return props, out, core.Wrap(rows.Err())
}
