-- 019: a tile's pieces together on disk. Pieces were written village by
-- village, so the pieces of one tile lay on as many pages as it has
-- villages: a cold zoom-8 tile of 1,034 villages read 991 pages of
-- tile_piece (89 ms). Kept in tile order, the same tile reads a few dozen.
-- The table is clustered once here, and every later cut (an import of
-- boundaries) writes its pieces in tile order.
CLUSTER tile_piece USING tile_piece_pkey;
ANALYZE tile_piece;

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
                     LATERAL tile_pieces(tg.layer, tg.code, tg.band, tg.geom) p
                ORDER BY p.z, p.x, p.y, tg.code', layer, layer, key);
        END IF;
    END IF;
    RETURN NULL;
END $$;
