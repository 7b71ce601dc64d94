-- 006: one publication, proved safe (docs/methodology.md, "What is published").
--
-- `riskmap score` ends by building area_public: every figure the public and
-- planners are served, computed only from counts that are rounded to 5,
-- withheld below a minimum sample, and audited as a whole table
-- (risk.Publish, risk.Audit). The view of 004 and its list of withheld
-- cells give way to this table.
DROP VIEW area_public;
DROP TABLE area_suppressed;

-- Counts of household types, so that their shares can be published as
-- ratios of published counts.
ALTER TABLE area_score
    ADD COLUMN labourer_households integer NOT NULL DEFAULT 0,
    ADD COLUMN poor_households integer NOT NULL DEFAULT 0;

-- Each household's nearest tobacco field within the model's radius (d null:
-- none), kept between scoring runs: found again for every household when
-- the fields, the radius or the CRS change (proximity_state), else only for
-- households that are new or have moved (digest of the point).
CREATE TABLE household_near (
    id      bigint PRIMARY KEY,
    variety text,
    d       real,
    digest  text NOT NULL
);
CREATE TABLE proximity_state (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    key         text NOT NULL,             -- fields, radius and CRS of household_near
    tobacco_key text NOT NULL DEFAULT ''   -- fields and villages of village_tobacco_kept
);
-- Each village's share under tobacco fields, kept while the fields and the
-- village boundaries are unchanged.
CREATE TABLE village_tobacco_kept (
    code  text PRIMARY KEY,
    share double precision NOT NULL
);

-- The same small-area estimates on exact counts, for rankings given to
-- those who may see exact figures (admins, staff in their areas): the
-- minimum sample and rounding are privacy rules, not estimation needs.
ALTER TABLE area_score
    ADD COLUMN est_score real,
    ADD COLUMN est_score_lo real,
    ADD COLUMN est_score_hi real,
    ADD COLUMN est_monthly real[],
    ADD COLUMN est_prevalence real,
    ADD COLUMN est_prevalence_lo real,
    ADD COLUMN est_prevalence_hi real,
    ADD COLUMN est_data_quality text[];

CREATE TABLE area_public (
    level                text NOT NULL CHECK (level IN ('desa', 'kecamatan', 'kabupaten')),
    code                 text NOT NULL,
    parent_code          text,
    -- published: figures shown; insufficient_data: under the minimum sample;
    -- withheld: enough sample, but the audit withheld a count its score needs;
    -- no_data: nobody surveyed.
    status               text NOT NULL CHECK (status IN ('published', 'insufficient_data', 'withheld', 'no_data')),
    households           integer,   -- counts: multiples of the rounding base, or null (withheld)
    children             integer,
    hazardous            integer,
    child_labour         integer,
    light_work           integer,
    not_working          integer,
    labourer_households  integer,
    poor_households      integer,
    prevalence           real,      -- (hazardous + child_labour) / children as published
    prevalence_lo        real,      -- its Jeffreys interval
    prevalence_hi        real,
    prevalence_smoothed  real,      -- small-area estimate (beta-binomial empirical Bayes) from published counts
    prevalence_smoothed_lo real,
    prevalence_smoothed_hi real,
    mean_household_score real,      -- small-area estimate (normal empirical Bayes)
    tobacco_share        real,
    farm_labourer_share  real,      -- small-area estimates from published counts
    poverty_share        real,
    institutions_missing text[],
    score                real,      -- the sum of the published components
    score_lo             real,      -- the components at the ends of their intervals
    score_hi             real,
    tier                 text NOT NULL,
    components           jsonb,
    monthly              real[],
    prior                text,      -- the level smoothing pulled toward
    data_quality         text[] NOT NULL DEFAULT '{}',
    villages             integer,   -- parents: villages in the area,
    surveyed_villages    integer,   --   with a survey,
    published_villages   integer,   --   with published figures
    suppressed           text[] NOT NULL DEFAULT '{}',  -- the counts withheld
    PRIMARY KEY (level, code)
);

-- Hotspots: the class after the false-discovery-rate correction, and
-- local Moran's I beside Gi*.
ALTER TABLE hotspot
    ADD COLUMN class_fdr text,
    ADD COLUMN moran_i real,
    ADD COLUMN moran_p real,
    ADD COLUMN moran_class text;

-- Planners' households: points displaced at scoring time by a keyed hash
-- whose key never leaves the database (mask_secret). A point is drawn once
-- per household and kept while what it was drawn from (survey uuid, point,
-- village, secret: digest) is unchanged; `shown` marks those in villages
-- whose household count is published, the only ones served. Indexed on the
-- shown points, so a bbox query is an index scan.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE mask_secret (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    secret bytea NOT NULL CHECK (length(secret) >= 32)
);
INSERT INTO mask_secret (secret) VALUES (gen_random_bytes(32));

CREATE TABLE household_mask (
    household_id bigint PRIMARY KEY,
    mask_id      text COLLATE "C" NOT NULL UNIQUE,  -- 128 bits of a keyed hash, hex
    village_code text NOT NULL,
    geom         geometry(Point, 4326),             -- null: none of 32 draws landed inside the village
    digest       text NOT NULL,                     -- keyed hash of what the point was drawn from
    shown        boolean NOT NULL DEFAULT false
);
CREATE INDEX household_mask_geom_idx ON household_mask USING gist (geom) WHERE shown;
CREATE INDEX household_mask_village_idx ON household_mask (village_code) WHERE shown;

-- The audit log becomes a hash chain: each row's hash covers the previous
-- row's hash and its own content, so a deleted, changed or reordered row
-- breaks every hash after it (`riskmap audit --verify`, which prints the head
-- hash to keep elsewhere). TRUNCATE is refused like UPDATE and DELETE.
CREATE TABLE audit_head (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    hash bytea NOT NULL
);
INSERT INTO audit_head (hash) VALUES (sha256(''::bytea));
ALTER TABLE audit_log ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;

-- audit_log_text is the canonical text of a row that its hash covers.
CREATE FUNCTION audit_log_text(id bigint, at timestamptz, key_id bigint, role text, route text, params jsonb, records integer)
RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(concat_ws('|', id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        coalesce(key_id::text, ''), role, route, params::text, records), 'UTF8')
$$;

CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE prev bytea;
BEGIN
    SELECT hash INTO prev FROM audit_head WHERE one FOR UPDATE;  -- one writer at a time
    NEW.prev_hash := prev;
    NEW.hash := sha256(prev || audit_log_text(NEW.id, NEW.at, NEW.key_id, NEW.role, NEW.route, NEW.params, NEW.records));
    UPDATE audit_head SET hash = NEW.hash WHERE one;
    RETURN NEW;
END $$;

-- Chain the rows already there, oldest first.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
DO $$
DECLARE r record; prev bytea := sha256(''::bytea); h bytea;
BEGIN
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
        h := sha256(prev || audit_log_text(r.id, r.at, r.key_id, r.role, r.route, r.params, r.records));
        UPDATE audit_log SET prev_hash = prev, hash = h WHERE id = r.id;
        prev := h;
    END LOOP;
    UPDATE audit_head SET hash = prev WHERE one;
END $$;
ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;
ALTER TABLE audit_log ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
REVOKE TRUNCATE ON audit_log FROM PUBLIC;

-- `serve` logs in as riskmap_serve itself (its own credentials; no SET ROLE
-- that RESET ROLE could undo). It reads the published tables, never the
-- mask secret.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        IF (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            ALTER ROLE riskmap_serve LOGIN;
        END IF;
        GRANT SELECT ON area_public, household_mask TO riskmap_serve;
        REVOKE ALL ON mask_secret, audit_head FROM riskmap_serve;
    END IF;
END $$;
