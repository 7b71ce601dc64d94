package postgres

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// StreamVillages writes every village as a GeoJSON FeatureCollection to w.
// PostGIS builds each feature; nothing is decoded on the way. start is called
// before the first byte, once the query has succeeded: an error returned
// before start can still become a problem response, one after it cannot.
func (db *DB) StreamVillages(ctx context.Context, w io.Writer, start func()) error {
	rows, err := db.Pool.Query(ctx, `
		SELECT '{"type":"Feature","id":' || to_json(v.code) || ',"geometry":' || ST_AsGeoJSON(v.geom, 6)
			|| ',"properties":' || json_build_object('code', v.code, 'name', v.name,
				'kecamatan_code', v.kecamatan_code, 'kecamatan', k.name,
				'kabupaten_code', v.kabupaten_code, 'area_km2', round((v.area_m2 / 1e6)::numeric, 3)) || '}'
		FROM village v LEFT JOIN kecamatan k ON k.code = v.kecamatan_code
		ORDER BY v.code`)
	if err != nil {
		return err
	}
	defer rows.Close()
	started := false
	var buf []byte
	for rows.Next() {
		if !started {
			start()
			buf = append(buf, `{"type":"FeatureCollection","features":[`...)
			started = true
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, rows.RawValues()[0]...)
		if len(buf) > 32<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !started {
		start()
		buf = append(buf, `{"type":"FeatureCollection","features":[`...)
	}
	buf = append(buf, "]}\n"...)
	_, err = w.Write(buf)
	return err
}

// VillageShape is a village's code, name and polygon.
type VillageShape struct {
	Code, Name, KecamatanCode string
	Geom                      orb.MultiPolygon
}

// VillageShapes returns every village with its polygon, in code order.
func (db *DB) VillageShapes(ctx context.Context) ([]VillageShape, error) {
	rows, err := db.Pool.Query(ctx, `SELECT code, name, kecamatan_code, ST_AsEWKB(geom) FROM village ORDER BY code`)
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
		if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, nil
}
