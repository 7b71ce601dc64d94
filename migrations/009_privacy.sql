-- 009: the rights of the people surveyed (UU 27/2022): erasure on request
-- or after the retention period, and a record of it that holds no personal
-- data.

-- Every table that holds a household's data names its key household_id, so
-- that erasure and export can find them all (and so can their tests).
ALTER TABLE household_near RENAME COLUMN id TO household_id;

-- privacy_secret: the salt of the erasure hashes. Like mask_secret, the
-- service's role cannot read it.
CREATE TABLE privacy_secret (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    salt bytea NOT NULL CHECK (length(salt) >= 32)
);
INSERT INTO privacy_secret (salt) VALUES (gen_random_bytes(32));

-- erasure_hash is a keyed hash of a survey uuid: it lets an import recognise
-- an erased submission without the uuid being kept.
CREATE FUNCTION erasure_hash(survey_uuid text) RETURNS bytea
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT hmac(convert_to(survey_uuid, 'UTF8'), salt, 'sha256') FROM privacy_secret
$$;

-- erasure: what is left of an erased household: who, when, why, and where
-- it counted (its village, so the change to published figures can be
-- explained). Never the uuid, never an answer.
CREATE TABLE erasure (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid_hash    bytea NOT NULL UNIQUE,
    erased_at    timestamptz NOT NULL DEFAULT now(),
    erased_by    text NOT NULL,
    reason       text NOT NULL CHECK (reason <> ''),
    kind         text NOT NULL CHECK (kind IN ('request', 'retention')),
    village_code text NOT NULL
);

-- publication_due: households were erased after the last scoring run, so
-- the published aggregates still count them until `riskmap score` runs.
CREATE TABLE publication_due (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    since     timestamptz NOT NULL,
    erasures  integer NOT NULL
);

-- scoring_lock: the advisory lock a scoring run holds; erasure takes it too,
-- so a household erased during a run cannot come back in the run's tables.
CREATE FUNCTION scoring_lock() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT 7470561021::bigint $$;

-- erase_household removes a household and everything keyed by its
-- household_id in every table (found in the catalogue, so a table added
-- later is covered without changing this), records the erasure and an audit
-- entry, and marks the publication due. One transaction: the caller's.
CREATE FUNCTION erase_household(p_uuid text, p_by text, p_reason text, p_kind text, p_key bigint DEFAULT NULL, p_role text DEFAULT 'admin')
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    hid   bigint;
    vcode text;
    t     record;
BEGIN
    IF coalesce(btrim(p_reason), '') = '' THEN
        RAISE EXCEPTION 'a reason for the erasure is required' USING ERRCODE = '22023';
    END IF;
    PERFORM pg_advisory_xact_lock(scoring_lock());
    SELECT id, village_code INTO hid, vcode FROM household WHERE survey_uuid = p_uuid FOR UPDATE;
    IF hid IS NULL THEN
        RAISE EXCEPTION 'no household with survey uuid %', p_uuid USING ERRCODE = 'P0002';
    END IF;
    FOR t IN
        SELECT c.table_name FROM information_schema.columns c
        JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
        WHERE c.table_schema = 'public' AND c.column_name = 'household_id' AND tb.table_type = 'BASE TABLE'
    LOOP
        EXECUTE format('DELETE FROM %I WHERE household_id = $1', t.table_name) USING hid;
    END LOOP;
    DELETE FROM household WHERE id = hid;
    INSERT INTO erasure (uuid_hash, erased_by, reason, kind, village_code)
    VALUES (erasure_hash(p_uuid), p_by, btrim(p_reason), p_kind, vcode);
    INSERT INTO publication_due (since, erasures) VALUES (now(), 1)
    ON CONFLICT (one) DO UPDATE SET erasures = publication_due.erasures + 1;
    INSERT INTO audit_log (key_id, role, route, params, records)
    VALUES (p_key, p_role, 'erase household',
            jsonb_build_object('uuid_hash', encode(erasure_hash(p_uuid), 'hex'), 'kind', p_kind, 'by', p_by), 1);
    RETURN vcode;
END $$;
REVOKE EXECUTE ON FUNCTION erase_household(text, text, text, text, bigint, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION erasure_hash(text) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        -- Admins erase over HTTP too: the service may call the function (and
        -- only it) to delete; it still cannot read the salt or the log of erasures.
        GRANT EXECUTE ON FUNCTION erase_household(text, text, text, text, bigint, text) TO riskmap_serve;
        GRANT SELECT ON publication_due TO riskmap_serve;
        REVOKE ALL ON privacy_secret, erasure FROM riskmap_serve;
    END IF;
END $$;
