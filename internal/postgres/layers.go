package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// VillageShape is a village's code, name and polygon.
type VillageShape struct {
	Code, Name, KecamatanCode string
	Geom                      orb.MultiPolygon
}

// VillageShapes returns every village with its polygon, in code order.
func (db *DB) VillageShapes(ctx context.Context) ([]VillageShape, error) {
	rows, err := db.reader().Query(ctx, `SELECT code, name, kecamatan_code, ST_AsEWKB(geom) FROM village ORDER BY code`)
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
		if v.Geom, err = decodeMultiPolygon(b); err != nil {
			return nil, fmt.Errorf("village %s: %w", v.Code, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Counts returns the number of rows in riskmap's main tables.
func (db *DB) Counts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for _, t := range []string{"kabupaten", "kecamatan", "village", "household", "child", "plantation", "labour_calendar"} {
		var n int
		if err := db.reader().QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, nil
}
