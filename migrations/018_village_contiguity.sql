-- 018: the villages' queen contiguity, kept between scoring runs.
--
-- Hotspots need every village's neighbours. Finding them matches every
-- vertex of every village (millions at national size) on a grid; the
-- boundaries change rarely, so the pairs are kept per grid (the model's
-- contiguity tolerance) until a village is inserted, moved or deleted.
-- Contiguity is a relation between two villages, so the neighbours among
-- the villages a run tests are these pairs restricted to them.
CREATE TABLE village_contiguity_grid (
    grid float8 PRIMARY KEY  -- degrees; the pairs of this grid are complete
);
CREATE TABLE village_contiguity (
    grid float8 NOT NULL REFERENCES village_contiguity_grid ON DELETE CASCADE,
    a    text NOT NULL,
    b    text NOT NULL,
    PRIMARY KEY (grid, a, b)
);

CREATE FUNCTION village_contiguity_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM village_contiguity_grid;
    RETURN NULL;
END $$;

CREATE TRIGGER village_contiguity_stale AFTER INSERT OR DELETE OR TRUNCATE ON village
    FOR EACH STATEMENT EXECUTE FUNCTION village_contiguity_stale();
CREATE TRIGGER village_contiguity_moved AFTER UPDATE OF geom, code ON village
    FOR EACH STATEMENT EXECUTE FUNCTION village_contiguity_stale();
