-- 017: tiles that stay small at province and national size.
--
-- Village tiles start at zoom 8 (postgres.TileLayers): under it a village
-- is a pixel or two wide and the kecamatan and kabupaten layers colour the
-- map. Their pieces are no longer cut under zoom 8.
CREATE OR REPLACE FUNCTION tile_cut(layer text, z int) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT z <= 14 AND z >= CASE layer WHEN 'kabupaten' THEN 0 WHEN 'kecamatan' THEN 6 WHEN 'desa' THEN 8 ELSE 99 END
$$;

-- Geometry for a band is simplified to 8 units of a 4096-unit tile (one
-- pixel of the 512-pixel tiles a map draws; 152 m at zoom 8), not one
-- unit: a zoom-8 tile of 4,125 East Javan villages drops from 546 KB of
-- geometry to 254 KB, and no outline moves by more than a pixel. Zooms over
-- 12 keep the full geometry (band 99).
CREATE OR REPLACE FUNCTION tile_simplify(g geometry, band int) RETURNS geometry LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN band >= 99 THEN ST_Transform(g, 3857)
                ELSE ST_SimplifyPreserveTopology(ST_Transform(g, 3857), 8 * 40075016.686 / (4096 * 2 ^ band)) END
$$;

UPDATE tile_geom t SET geom = tile_simplify(s.geom, t.band) FROM kabupaten s WHERE t.layer = 'kabupaten' AND t.code = s.code AND t.band < 99;
UPDATE tile_geom t SET geom = tile_simplify(s.geom, t.band) FROM kecamatan s WHERE t.layer = 'kecamatan' AND t.code = s.code AND t.band < 99;
UPDATE tile_geom t SET geom = tile_simplify(s.geom, t.band) FROM village s WHERE t.layer = 'desa' AND t.code = s.code AND t.band < 99;
UPDATE tile_geom t SET geom = tile_simplify(s.geom, t.band) FROM plantation s WHERE t.layer = 'plantation' AND t.code = s.id::text AND t.band < 99;

-- The pieces cut again from the new geometry.
DELETE FROM tile_piece;
INSERT INTO tile_piece (layer, z, x, y, code, geom)
SELECT tg.layer, p.z, p.x, p.y, tg.code, p.geom
FROM tile_geom tg, LATERAL tile_pieces(tg.layer, tg.code, tg.band, tg.geom) p
WHERE tile_cut(tg.layer, 14);
ANALYZE tile_geom;
ANALYZE tile_piece;
