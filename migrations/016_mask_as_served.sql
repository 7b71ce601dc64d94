-- Masked household points are kept as they are served: rounded to 6
-- decimals of a degree through ST_AsGeoJSON, so the point tested inside its
-- village is the one a client reads back (a point within 5 cm of the
-- boundary could otherwise be rounded out of its village). Points already
-- drawn are rounded here; a rounded point that falls outside its village is
-- removed, and the next scoring run draws it again (the same keyed hash, so
-- the same draws, each now tested as served).
UPDATE household_mask
SET geom = ST_SetSRID(ST_GeomFromGeoJSON(ST_AsGeoJSON(geom, 6)), 4326)
WHERE geom IS NOT NULL;

DELETE FROM household_mask m
USING village v
WHERE v.code = m.village_code AND m.geom IS NOT NULL AND NOT ST_Covers(v.geom, m.geom);
