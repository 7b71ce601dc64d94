-- 013: area tiles cut in advance. Clipping and validating polygons for a
-- tile (ST_AsMVTGeom) was most of a tile's cost: 24 of 31 ms for the 296
-- villages of a zoom-10 tile. The areas' geometry changes only with their
-- boundaries, so every area's piece of every tile from the zoom its layer
-- is drawn at to zoom 14 is cut once, when the boundaries change, by the
-- same call a tile would make (ST_AsMVTGeom of the band's geometry, 4096
-- extent, 64-unit buffer). A tile then only joins its pieces to the
-- published properties and encodes them. Deeper tiles hold few areas each,
-- and tobacco fields are many and small: those are cut on request from
-- tile_geom, as before.

CREATE TABLE tile_piece (
    layer text     NOT NULL,
    z     smallint NOT NULL,
    x     integer  NOT NULL,
    y     integer  NOT NULL,
    code  text     NOT NULL,
    geom  geometry NOT NULL,  -- tile coordinates: 0..4096, y down, clipped 64 units outside the tile
    PRIMARY KEY (layer, z, x, y, code)
);

-- tile_cut: whether a layer's tiles of zoom z are cut in advance.
CREATE FUNCTION tile_cut(layer text, z int) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT z <= 14 AND z >= CASE layer WHEN 'kabupaten' THEN 0 WHEN 'kecamatan' THEN 6 WHEN 'desa' THEN 7 ELSE 99 END
$$;

-- tile_pieces: the pieces of a layer's tile-ready geometry (rows of
-- tile_geom) for every zoom the layer is cut at: each tile whose buffered
-- box meets the geometry's box, and the geometry's part of it, where there
-- is one.
CREATE FUNCTION tile_pieces(layer text, code text, band smallint, g geometry)
RETURNS TABLE (z smallint, x integer, y integer, geom geometry) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT z::smallint, tx, ty, p
    FROM generate_series(0, 14) AS z,
         LATERAL (SELECT box2d(g) AS b, 40075016.68557849 / 2 ^ z AS w, 20037508.342789244 AS o, (2 ^ z)::int - 1 AS n) e,
         LATERAL generate_series(greatest(0, floor((ST_XMin(e.b) + e.o) / e.w - 65.0 / 4096)::int),
                                 least(e.n, floor((ST_XMax(e.b) + e.o) / e.w + 65.0 / 4096)::int)) AS tx,
         LATERAL generate_series(greatest(0, floor((e.o - ST_YMax(e.b)) / e.w - 65.0 / 4096)::int),
                                 least(e.n, floor((e.o - ST_YMin(e.b)) / e.w + 65.0 / 4096)::int)) AS ty,
         LATERAL ST_AsMVTGeom(g, ST_TileEnvelope(z, tx, ty), 4096, 64, true) AS p
    WHERE tile_cut(layer, z) AND tile_band(layer, z) = band AND p IS NOT NULL
$$;

-- tile_geom_sync (012) now keeps the pieces too, in the same statement.
CREATE OR REPLACE FUNCTION tile_geom_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    layer text := TG_ARGV[0];
    key   text := TG_ARGV[1];
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        EXECUTE format('DELETE FROM tile_geom t USING old_rows o WHERE t.layer = %L AND t.code = o.%I', layer, key);
        EXECUTE format('DELETE FROM tile_piece t USING old_rows o WHERE t.layer = %L AND t.code = o.%I', layer, key);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE format('INSERT INTO tile_geom (layer, code, band, geom)
            SELECT %L, n.%I, b.band, tile_simplify(n.geom, b.band)
            FROM new_rows n CROSS JOIN unnest(tile_bands(%L)) AS b(band)
            ON CONFLICT (layer, band, code) DO UPDATE SET geom = excluded.geom', layer, key, layer);
        IF tile_cut(layer, 14) THEN
            EXECUTE format('DELETE FROM tile_piece t USING new_rows n WHERE t.layer = %L AND t.code = n.%I', layer, key);
            EXECUTE format('INSERT INTO tile_piece (layer, z, x, y, code, geom)
                SELECT %L, p.z, p.x, p.y, tg.code, p.geom
                FROM new_rows n JOIN tile_geom tg ON tg.layer = %L AND tg.code = n.%I,
                     LATERAL tile_pieces(tg.layer, tg.code, tg.band, tg.geom) p', layer, layer, key);
        END IF;
    END IF;
    RETURN NULL;
END $$;

INSERT INTO tile_piece (layer, z, x, y, code, geom)
SELECT tg.layer, p.z, p.x, p.y, tg.code, p.geom
FROM tile_geom tg, LATERAL tile_pieces(tg.layer, tg.code, tg.band, tg.geom) p
WHERE tile_cut(tg.layer, 14);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        GRANT SELECT ON tile_piece TO riskmap_serve;
    END IF;
END $$;
ANALYZE tile_piece;
