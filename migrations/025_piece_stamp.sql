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
-- The pieces change only when boundaries are imported. map_state.pieces
-- counts the statements that change them (map_changed, migration 022, now
-- tells tile_piece apart), so that the service reads the set again (0.4 s
-- a layer for the country) only when it moved, not at every new data
-- version; it is read in the same statement as the set.
ALTER TABLE map_state ADD COLUMN pieces bigint NOT NULL DEFAULT 1;

CREATE OR REPLACE FUNCTION map_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE map_state SET generation = generation + 1,
                         pieces = pieces + CASE WHEN TG_TABLE_NAME = 'tile_piece' THEN 1 ELSE 0 END;
    RETURN NULL;
END $$;
