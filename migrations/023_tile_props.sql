-- 023: each area's tile properties, written with the rendered tiles.
--
-- A tile of zoom 11-14 is built on request from its pieces (tile_piece),
-- each joined to its area, the published figures (area_public), its
-- kecamatan's name and its hotspot class, with 25 properties rounded and
-- cast per piece: on a dense village tile of East Java (278 villages at
-- zoom 11) the joins and the properties were three fifths of the query.
-- riskmap render-tiles (and score, after it commits) now writes every
-- area's tile properties once, already rounded and cast, so a deep tile
-- is its pieces and one join by key.
--
-- The properties are kept by type in arrays, in the order the service's
-- query reads them (catalog.TileFields): the table's shape does not change
-- with the catalogue, and the query names each value as the tile's key.
-- Like a rendered tile they are tagged (tile_props_state) with the map
-- generation they were read at, in the same snapshot, and the recipe: the
-- service's query uses them only when the generation is still the current
-- one and the recipe its own, inside the same statement, and otherwise
-- builds the tile from the areas' tables as before. Stale properties are
-- never served.
CREATE TABLE tile_props (
    collection text NOT NULL,   -- kabupaten, kecamatan, villages
    code       text NOT NULL,   -- the area's code: its pieces' code
    t          text[],          -- the string properties, in catalogue order
    f          float8[],        -- the number properties
    i          int8[],          -- the integer properties
    b          boolean[],       -- the boolean properties
    m          float8[],        -- the seasonal score of each month, January first
    PRIMARY KEY (collection, code)
);

CREATE TABLE tile_props_state (
    collection text PRIMARY KEY,
    generation bigint NOT NULL, -- map_state.generation the properties were read at
    recipe     text NOT NULL    -- catalog.Recipe of the collection they were written for
);

DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        GRANT SELECT ON tile_props, tile_props_state TO riskmap_serve;
    END IF;
END $$;
