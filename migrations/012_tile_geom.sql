-- 012: tile-ready geometry. Every area and tobacco field in Web Mercator,
-- simplified once per zoom band to the band's pixel size, kept in step with
-- its table by triggers (whatever writes the table: an import, parents
-- derived from villages, a test), so a vector tile only clips and encodes.

CREATE TABLE tile_geom (
    layer text NOT NULL CHECK (layer IN ('kabupaten', 'kecamatan', 'desa', 'plantation')),
    code  text NOT NULL,
    band  smallint NOT NULL,  -- the greatest zoom the geometry is simplified for; 99: not simplified
    geom  geometry(Geometry, 3857) NOT NULL,
    PRIMARY KEY (layer, band, code)
);
-- One index finds a layer's band and the tile's box at once (btree_gist):
-- a plain GiST on the geometry returns every layer's and band's rows in the
-- box (27,835 at zoom 7 for the 783 villages' 783).
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE INDEX tile_geom_geom_idx ON tile_geom USING gist (layer, band, geom);

-- The bands a layer keeps: areas one per zoom up to 12 (zooms under 5 read
-- zoom 5's), then the full geometry; tobacco fields, drawn from zoom 11,
-- from 11.
CREATE FUNCTION tile_bands(layer text) RETURNS smallint[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN layer = 'plantation' THEN '{11,12,99}'::smallint[] ELSE '{5,6,7,8,9,10,11,12,99}'::smallint[] END
$$;

-- tile_band: the band a tile of zoom z of a layer reads.
CREATE FUNCTION tile_band(layer text, z int) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (CASE WHEN z > 12 THEN 99 WHEN layer = 'plantation' THEN greatest(z, 11) ELSE greatest(z, 5) END)::smallint
$$;

-- tile_simplify: a geometry for a band: one pixel of a 4096-pixel tile at
-- the band's zoom is the tolerance (38 m at zoom 8).
CREATE FUNCTION tile_simplify(g geometry, band int) RETURNS geometry LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN band >= 99 THEN ST_Transform(g, 3857)
                ELSE ST_SimplifyPreserveTopology(ST_Transform(g, 3857), 40075016.686 / (4096 * 2 ^ band)) END
$$;

CREATE FUNCTION tile_geom_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    layer text := TG_ARGV[0];
    key   text := TG_ARGV[1];
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        EXECUTE format('DELETE FROM tile_geom t USING old_rows o WHERE t.layer = %L AND t.code = o.%I', layer, key);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE format('INSERT INTO tile_geom (layer, code, band, geom)
            SELECT %L, n.%I, b.band, tile_simplify(n.geom, b.band)
            FROM new_rows n CROSS JOIN unnest(tile_bands(%L)) AS b(band)
            ON CONFLICT (layer, band, code) DO UPDATE SET geom = excluded.geom', layer, key, layer);
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('kabupaten', 'kabupaten', 'code'), ('kecamatan', 'kecamatan', 'code'),
                                   ('village', 'desa', 'code'), ('plantation', 'plantation', 'id')) AS x(tab, layer, key) LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION tile_geom_sync(%L, %L)', t.tab || '_tile_ins', t.tab, t.layer, t.key);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION tile_geom_sync(%L, %L)', t.tab || '_tile_upd', t.tab, t.layer, t.key);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION tile_geom_sync(%L, %L)', t.tab || '_tile_del', t.tab, t.layer, t.key);
        EXECUTE format('INSERT INTO tile_geom (layer, code, band, geom)
            SELECT %L, s.%I, b.band, tile_simplify(s.geom, b.band) FROM %I s CROSS JOIN unnest(tile_bands(%L)) AS b(band)',
            t.layer, t.key, t.tab, t.layer);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        GRANT SELECT ON tile_geom TO riskmap_serve;
    END IF;
END $$;
ANALYZE tile_geom;
