-- 015: every publication is a release, safe against differencing
-- (docs/methodology.md, "Releases over time").
--
-- What the public and planners see of a village's survey is computed from
-- its *basis*: the village's counts (and the sums the publication needs)
-- taken at the last release that refreshed it. A basis is refreshed only
-- when at least min_households households and min_children children of the
-- village changed since it was taken (arrived, left, or answered
-- differently); otherwise the previous basis stands, so a single erasure or
-- a single late submission moves no published figure. Parents are sums of
-- their villages' bases, so every difference between two releases is the
-- work of a batch of at least that many households.

-- data_version changes whenever a household's answers or its children's
-- do (not when an import writes the same answers again, nor when identity
-- matching links it): the scoring run compares it with the version each
-- basis counted.
CREATE SEQUENCE household_data_version;
ALTER TABLE household ADD COLUMN data_version bigint;
UPDATE household SET data_version = nextval('household_data_version');
ALTER TABLE household ALTER COLUMN data_version SET DEFAULT nextval('household_data_version'),
    ALTER COLUMN data_version SET NOT NULL;

CREATE FUNCTION household_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.source, NEW.submitted_at, NEW.village_code, NEW.round_id, NEW.programme_id, NEW.reported_village_code,
        NEW.geom, NEW.gps_precision_m, NEW.livelihoods, NEW.poverty_programmes, NEW.caregiver_education,
        NEW.single_parent, NEW.members, NEW.working_adults)
       IS DISTINCT FROM
       (OLD.source, OLD.submitted_at, OLD.village_code, OLD.round_id, OLD.programme_id, OLD.reported_village_code,
        OLD.geom, OLD.gps_precision_m, OLD.livelihoods, OLD.poverty_programmes, OLD.caregiver_education,
        OLD.single_parent, OLD.members, OLD.working_adults) THEN
        NEW.data_version := nextval('household_data_version');
    ELSIF NEW.data_version IS DISTINCT FROM OLD.data_version AND current_setting('riskmap.data_version', true) IS DISTINCT FROM 'set' THEN
        NEW.data_version := OLD.data_version;  -- only this trigger and the import's children check move it
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER household_data_changed BEFORE UPDATE ON household
    FOR EACH ROW EXECUTE FUNCTION household_data_changed();

-- Children written outside the survey import (which compares a household's
-- children itself and replaces only those that differ) move their
-- household's version too.
CREATE FUNCTION child_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('riskmap.import', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('riskmap.data_version', 'set', true);
    IF TG_OP = 'INSERT' THEN
        UPDATE household h SET data_version = nextval('household_data_version')
        WHERE h.id IN (SELECT DISTINCT household_id FROM changed_rows);
    ELSE
        UPDATE household h SET data_version = nextval('household_data_version')
        WHERE h.id IN (SELECT DISTINCT household_id FROM gone_rows);
    END IF;
    PERFORM set_config('riskmap.data_version', '', true);
    RETURN NULL;
END $$;
CREATE TRIGGER child_inserted AFTER INSERT ON child REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION child_data_changed();
CREATE TRIGGER child_deleted AFTER DELETE ON child REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION child_data_changed();
CREATE FUNCTION child_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('riskmap.data_version', 'set', true);
    UPDATE household SET data_version = nextval('household_data_version') WHERE id IN (OLD.household_id, NEW.household_id);
    PERFORM set_config('riskmap.data_version', '', true);
    RETURN NULL;
END $$;
CREATE TRIGGER child_updated AFTER UPDATE ON child FOR EACH ROW
    WHEN ((OLD.household_id, OLD.ordinal, OLD.age, OLD.sex, OLD.school_status, OLD.harvest_absence_days, OLD.works,
           OLD.work_hours_week, OLD.work_hours_day, OLD.works_in_school_hours, OLD.tasks, OLD.gts_symptoms,
           OLD.disability, OLD.special_needs, OLD.orphan)
          IS DISTINCT FROM
          (NEW.household_id, NEW.ordinal, NEW.age, NEW.sex, NEW.school_status, NEW.harvest_absence_days, NEW.works,
           NEW.work_hours_week, NEW.work_hours_day, NEW.works_in_school_hours, NEW.tasks, NEW.gts_symptoms,
           NEW.disability, NEW.special_needs, NEW.orphan))
    EXECUTE FUNCTION child_row_changed();

-- release: the ledger. One row per distinct publication; a scoring run
-- that publishes exactly what the latest release holds (same hash) records
-- itself against that release instead of making a new one.
CREATE TABLE release (
    id             bigint PRIMARY KEY,
    published_at   timestamptz NOT NULL DEFAULT now(),
    score_run_id   bigint NOT NULL,           -- the run that first published it
    last_run_id    bigint NOT NULL,           -- the latest run that published it again
    runs           integer NOT NULL DEFAULT 1,
    data_version   bigint NOT NULL,           -- household_data_version when it was built
    round_id       text,                      -- the round the map shows
    model_version  text NOT NULL,
    basis_key      text NOT NULL,             -- what the bases' counts were computed under
    rule           jsonb NOT NULL,            -- the publication rule and its parameters
    tables         jsonb NOT NULL,            -- table name -> md5 of its published rows
    hash           text NOT NULL,             -- md5 over tables
    refreshed      jsonb NOT NULL DEFAULT '[]',   -- bases refreshed: round, village, households, children changed
    changed_areas  text[] NOT NULL DEFAULT '{}',  -- level:code whose published figures differ from the previous release
    held           jsonb NOT NULL DEFAULT '{}',   -- bases kept with changes below the threshold: how many, and on an older basis_key
    synthetic      boolean NOT NULL DEFAULT false
);
ALTER TABLE score_run ADD COLUMN release_id bigint;

-- release_basis: each village's counts in each round as of the release
-- that last refreshed it. Sums over households, never a household's own.
CREATE TABLE release_basis (
    round_id            text NOT NULL,
    village_code        text NOT NULL,
    release_id          bigint NOT NULL,   -- the release that took it (the one being built, then kept)
    basis_key           text NOT NULL,
    households          integer NOT NULL,
    children            integer NOT NULL,
    hazardous           integer NOT NULL,
    child_labour        integer NOT NULL,
    light_work          integer NOT NULL,
    not_working         integer NOT NULL,
    labourer_households integer NOT NULL,
    poor_households     integer NOT NULL,
    score_n             integer NOT NULL,            -- households with a score,
    score_sum           double precision NOT NULL,   --   the sum of their scores,
    score_ss            double precision NOT NULL,   --   and of their squares (within-village variance)
    kid_households      integer NOT NULL,            -- risk.ClusterSums of the round's design effect
    kid_y               double precision NOT NULL,
    kid_n               double precision NOT NULL,
    kid_yy              double precision NOT NULL,
    kid_yn              double precision NOT NULL,
    kid_nn              double precision NOT NULL,
    PRIMARY KEY (round_id, village_code)
);

-- release_member: the households each basis counted, with the version of
-- their answers and how many children aged 5-17 they had. A household's
-- row goes when the household is erased (erase_household deletes every row
-- keyed by household_id); the trigger below then adds its departure to
-- release_departed as a count, so nothing of it is kept but its place in a
-- sum.
CREATE TABLE release_member (
    round_id      text NOT NULL,
    village_code  text NOT NULL,
    household_id  bigint NOT NULL,
    data_version  bigint NOT NULL,
    children      integer NOT NULL,
    PRIMARY KEY (round_id, village_code, household_id)
);
CREATE INDEX release_member_household_idx ON release_member (household_id);

CREATE TABLE release_departed (
    round_id      text NOT NULL,
    village_code  text NOT NULL,
    households    integer NOT NULL DEFAULT 0,
    children      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (round_id, village_code)
);

CREATE FUNCTION release_member_departed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('riskmap.release_refresh', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO release_departed (round_id, village_code, households, children)
    SELECT round_id, village_code, count(*), sum(children) FROM gone_rows GROUP BY 1, 2
    ON CONFLICT (round_id, village_code) DO UPDATE
        SET households = release_departed.households + excluded.households,
            children = release_departed.children + excluded.children;
    RETURN NULL;
END $$;
CREATE TRIGGER release_member_departed AFTER DELETE ON release_member REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION release_member_departed();

-- The case pipeline under the same rule: each kecamatan's cases by status
-- as of its last refresh, refreshed when at least min_children cases
-- opened, changed status or left since; kabupaten are sums; the published
-- table is built at the release, not on request. Villages hold too few
-- cases to follow over time: the pipeline is published per kecamatan and
-- kabupaten.
CREATE TABLE release_case_basis (
    kecamatan_code text PRIMARY KEY,
    release_id    bigint NOT NULL,
    counts        jsonb NOT NULL    -- status -> cases
);
CREATE TABLE release_case_member (
    case_id        bigint PRIMARY KEY,
    household_id   bigint NOT NULL,
    kecamatan_code text NOT NULL,
    status         text NOT NULL
);
CREATE INDEX release_case_member_household_idx ON release_case_member (household_id);
CREATE TABLE release_case_departed (
    kecamatan_code text PRIMARY KEY,
    cases          integer NOT NULL DEFAULT 0
);
CREATE FUNCTION release_case_departed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('riskmap.release_refresh', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO release_case_departed (kecamatan_code, cases)
    SELECT kecamatan_code, count(*) FROM gone_rows GROUP BY 1
    ON CONFLICT (kecamatan_code) DO UPDATE SET cases = release_case_departed.cases + excluded.cases;
    RETURN NULL;
END $$;
CREATE TRIGGER release_case_member_departed AFTER DELETE ON release_case_member REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION release_case_departed();

CREATE TABLE pipeline_public (
    level        text NOT NULL,
    code         text NOT NULL,
    parent_code  text,
    status       text NOT NULL,
    counts       jsonb NOT NULL,   -- measure -> published count, or null where withheld
    PRIMARY KEY (level, code)
);

-- release_area: every release's published counts per area, kept so that
-- disclosure-check can audit each release together with the one before it.
-- Published (rounded) figures only: what anyone who kept the releases has.
CREATE TABLE release_area (
    release_id  bigint NOT NULL REFERENCES release (id),
    tbl         text NOT NULL CHECK (tbl IN ('area_public', 'round_area', 'pipeline_public')),
    round_id    text NOT NULL DEFAULT '',    -- round_area's round; '' in the other tables
    level       text NOT NULL,
    code        text NOT NULL,
    counts      jsonb NOT NULL,
    PRIMARY KEY (release_id, tbl, round_id, level, code)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        GRANT SELECT ON release, pipeline_public TO riskmap_serve;
        -- erase_household runs as its owner (SECURITY DEFINER): the serve
        -- role needs no rights on the bases.
        REVOKE ALL ON release_basis, release_member, release_departed, release_case_basis,
            release_case_member, release_case_departed, release_area FROM riskmap_serve;
    END IF;
END $$;
