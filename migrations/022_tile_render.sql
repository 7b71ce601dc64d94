-- 022: a release's low-zoom tiles, rendered once when it is published.
--
-- A tile under zoom 11 holds hundreds to thousands of areas: building it
-- on request reads all their pieces and encodes them, 10-40 ms cold at
-- province and national size, every time a server starts. The figures
-- they carry change only when a scoring run publishes, the outlines only
-- when boundaries are imported, so the scoring command renders these tiles
-- once (riskmap score, demo load) and the service reads them back by key:
-- the annual tiles, and those of the month the map page opens on (the
-- default variety's peak month, where the map's seasonal colours start).
--
-- map_state.generation identifies the committed state of everything a
-- tile of the area layers is built from: a statement that writes an area,
-- the published figures or the hotspots moves it, in its own transaction
-- (the row lock orders the writers, so every commit that changes a tile's
-- inputs gives a new generation). A rendered tile is tagged with the
-- generation it was read at, in the same snapshot, and the recipe (a hash
-- of the tile's SQL); the service serves it only when both still match,
-- and builds the tile on request otherwise. A stale row is never served.
CREATE TABLE map_state (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    generation bigint NOT NULL
);
INSERT INTO map_state VALUES (true, 1);

CREATE FUNCTION map_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE map_state SET generation = generation + 1;
    RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['village', 'kecamatan', 'kabupaten', 'area_public', 'hotspot', 'tile_piece'] LOOP
        EXECUTE format('CREATE TRIGGER map_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I
            FOR EACH STATEMENT EXECUTE FUNCTION map_changed()', t);
    END LOOP;
END $$;

CREATE TABLE tile_render (
    layer      text NOT NULL,      -- the collection: kabupaten, kecamatan, villages
    z          smallint NOT NULL,
    x          integer NOT NULL,
    y          integer NOT NULL,
    month      smallint NOT NULL,  -- 0: the annual tile; 1-12: with that month's seasonal score
    generation bigint NOT NULL,    -- map_state.generation it was read at
    recipe     text NOT NULL,      -- a hash of the SQL that built it
    gz         bytea NOT NULL,     -- the tile, gzip-compressed; empty for an empty tile
    PRIMARY KEY (layer, z, x, y, month)
);
-- Already compressed: kept out of line without a second compression.
ALTER TABLE tile_render ALTER COLUMN gz SET STORAGE EXTERNAL;

-- A layer whose every tile holding a piece was rendered at one generation
-- with one recipe: a tile of its rendered zooms missing from tile_render
-- is then empty (a tile inside the layer's coverage but between its
-- areas, the sea inside a kabupaten's bounding box), and needs no query.
CREATE TABLE tile_render_layer (
    layer      text NOT NULL,
    month      smallint NOT NULL,
    generation bigint NOT NULL,
    recipe     text NOT NULL,
    PRIMARY KEY (layer, month)
);

DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        GRANT SELECT ON map_state, tile_render, tile_render_layer TO riskmap_serve;
    END IF;
END $$;
