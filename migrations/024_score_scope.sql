-- 024: a scoring run re-scores only the kabupaten whose data changed.
--
-- A household's classes and score depend on its own answers and its
-- children's, its tobacco fields (the plantations), its village's variety
-- and the calendars, and the model. Triggers note here, per kabupaten,
-- every change to a household or a child since the last scoring run
-- (score_dirty); a change to the villages, the plantations or the
-- imported calendars concerns every household ('*'). A run whose model and
-- scoring code are those of the latest run (score_run.scope_fingerprint)
-- classifies and scores again only the households of the kabupaten noted,
-- in place, and keeps the rest; any other run scores everything, as
-- before, and so does the first run after a run that recorded no
-- fingerprint (this migration, or an older riskmap scoring in between).
-- seq tells a note taken during a run from the one the run read: the run
-- removes only the notes it read, unchanged.
CREATE TABLE score_dirty (
    kabupaten_code text PRIMARY KEY, -- '' for households in no village; '*' for every household
    seq            bigint NOT NULL
);
CREATE SEQUENCE score_dirty_seq;

ALTER TABLE score_run ADD COLUMN scope_fingerprint text; -- the model and scoring code it ran

-- What a village's release basis sums over each household (its children
-- aged min_work_age..max_child_age, in child labour, and by class), kept
-- with its score so that a run that does not score a household again
-- still has them.
ALTER TABLE household_score
    ADD COLUMN kid_n            int NOT NULL DEFAULT 0,
    ADD COLUMN kid_y            int NOT NULL DEFAULT 0,
    ADD COLUMN kid_hazardous    int NOT NULL DEFAULT 0,
    ADD COLUMN kid_child_labour int NOT NULL DEFAULT 0,
    ADD COLUMN kid_light_work   int NOT NULL DEFAULT 0;

-- score_dirty_note notes the kabupaten of the villages given ('' for a
-- household in no village).
CREATE FUNCTION score_dirty_note(villages text[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO score_dirty SELECT k, nextval('score_dirty_seq') FROM (
        SELECT DISTINCT coalesce(v.kabupaten_code, '') AS k
        FROM unnest(villages) AS u(code) LEFT JOIN village v ON v.code = u.code) s
    ON CONFLICT (kabupaten_code) DO UPDATE SET seq = excluded.seq
$$;

-- score_dirty_mark: the trigger on household and child (the villages of
-- the rows written, before and after) and on what concerns every
-- household ('all').
CREATE FUNCTION score_dirty_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_ARGV[0] = 'all' THEN
        INSERT INTO score_dirty VALUES ('*', nextval('score_dirty_seq'))
            ON CONFLICT (kabupaten_code) DO UPDATE SET seq = excluded.seq;
    ELSIF TG_ARGV[0] = 'household' THEN
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM score_dirty_note(ARRAY(SELECT DISTINCT village_code FROM new_rows));
        END IF;
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            PERFORM score_dirty_note(ARRAY(SELECT DISTINCT village_code FROM old_rows));
        END IF;
    ELSE
        -- A child deleted with its household: the household's own trigger
        -- notes its kabupaten.
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM score_dirty_note(ARRAY(SELECT DISTINCT h.village_code FROM new_rows n JOIN household h ON h.id = n.household_id));
        END IF;
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            PERFORM score_dirty_note(ARRAY(SELECT DISTINCT h.village_code FROM old_rows o JOIN household h ON h.id = o.household_id));
        END IF;
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['household', 'child'] LOOP
        EXECUTE format('CREATE TRIGGER score_dirty_insert AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION score_dirty_mark(%L)', t, t);
        EXECUTE format('CREATE TRIGGER score_dirty_update AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION score_dirty_mark(%L)', t, t);
        EXECUTE format('CREATE TRIGGER score_dirty_delete AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION score_dirty_mark(%L)', t, t);
        EXECUTE format('CREATE TRIGGER score_dirty_truncate AFTER TRUNCATE ON %I
            FOR EACH STATEMENT EXECUTE FUNCTION score_dirty_mark(''all'')', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['village', 'plantation', 'labour_calendar'] LOOP
        EXECUTE format('CREATE TRIGGER score_dirty_all AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I
            FOR EACH STATEMENT EXECUTE FUNCTION score_dirty_mark(''all'')', t);
    END LOOP;
END $$;
