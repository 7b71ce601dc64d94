-- 025: which tiles of the area layers hold anything, known to the service.
--
-- At a zoom a layer is cut at (tile_cut), a tile is built from its pieces
-- alone, so a tile with no piece is empty. The service keeps, per layer
-- and cut zoom, the set of tiles that hold a piece (1.4 million tiles, 5.6
-- MB, for the country's three area layers) and answers every other tile
-- empty without a query: the sea, and the land between a kabupaten's
-- outline and its bounding box. It used to know this only from the areas'
-- bounding boxes at zoom 10, and queried every tile inside them; at zoom
-- 13 of East Java's kabupaten layer 19 of 24 tiles spread over the
-- province were such empty tiles, each a query.
--
-- The pieces change only when boundaries are imported. tile_piece_state
-- counts the statements that change them, so that the service reads the
-- set again (0.4 s a layer for the country) only when its stamp moved,
-- not at every new data version; the stamp is read in the same statement
-- as the set.
CREATE TABLE tile_piece_state (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    stamp bigint NOT NULL
);
INSERT INTO tile_piece_state VALUES (true, 1);

CREATE FUNCTION tile_piece_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tile_piece_state SET stamp = stamp + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER tile_piece_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tile_piece
    FOR EACH STATEMENT EXECUTE FUNCTION tile_piece_changed();

DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        GRANT SELECT ON tile_piece_state TO riskmap_serve;
    END IF;
END $$;
