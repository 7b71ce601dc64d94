-- 011: survey rounds, a household's identity across rounds, and the CLMRS
-- cycle: cases of children in child labour, visits, remediation, follow-up.

-- survey_round: one survey of the programme's households (baseline 2026,
-- follow-up 2027, ...). A new round never deletes an earlier one.
CREATE TABLE survey_round (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    label      text NOT NULL,
    starts_on  date NOT NULL,
    ends_on    date NOT NULL CHECK (ends_on >= starts_on),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A household row stays one submission; round_id says which survey it
-- answered, programme_id is the number on the household's programme card
-- (never a NIK or a name), identity_id the household across rounds (the id
-- of its first submission) and identity_rule how that was decided.
ALTER TABLE household ADD COLUMN round_id text REFERENCES survey_round (id);
ALTER TABLE household ADD COLUMN programme_id text CHECK (programme_id ~ '^[A-Z]{2,5}-[0-9]{3,8}$');
ALTER TABLE household ADD COLUMN identity_id bigint;
ALTER TABLE household ADD COLUMN identity_rule text CHECK (identity_rule IN ('new', 'programme_id', 'place_and_children', 'ambiguous'));
-- person: the child across rounds, numbered within the household identity.
ALTER TABLE child ADD COLUMN person smallint;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM household) THEN
        INSERT INTO survey_round (id, label, starts_on, ends_on)
        SELECT 'baseline', 'Baseline', coalesce(min(submitted_at)::date, current_date), coalesce(max(submitted_at)::date, current_date)
        FROM household;
        UPDATE household SET round_id = 'baseline', identity_id = id, identity_rule = 'new';
        UPDATE child SET person = ordinal;
    END IF;
END $$;
ALTER TABLE household ALTER COLUMN round_id SET NOT NULL;
CREATE INDEX household_round_idx ON household (round_id);
CREATE INDEX household_identity_idx ON household (identity_id);
CREATE UNIQUE INDEX household_round_programme_idx ON household (round_id, programme_id) WHERE programme_id IS NOT NULL;

-- identity_review: a submission the matching rule fitted to more than one
-- earlier household (or that two submissions of one round both fitted).
-- It was kept as a new household, never guessed; staff decide.
CREATE TABLE identity_review (
    household_id bigint PRIMARY KEY REFERENCES household (id) ON DELETE CASCADE,
    candidates   bigint[] NOT NULL,
    reason       text NOT NULL,
    found_at     timestamptz NOT NULL DEFAULT now()
);

-- child_case: a child found in hazardous work or child labour, followed
-- through the CLMRS cycle. household_id is the submission that found the
-- child; identity_id and person follow the child into later rounds.
CREATE TABLE child_case (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    household_id   bigint NOT NULL REFERENCES household (id) ON DELETE CASCADE,
    identity_id    bigint NOT NULL,
    person         smallint NOT NULL,
    ordinal        smallint NOT NULL,
    village_code   text NOT NULL,
    round_id       text NOT NULL REFERENCES survey_round (id),
    classification text NOT NULL CHECK (classification IN ('hazardous', 'child_labour')),
    reason         text NOT NULL,
    opened_on      date NOT NULL,
    status         text NOT NULL CHECK (status IN ('identified', 'remediation_planned', 'remediated', 'followed_up', 'closed', 'lost')),
    status_on      date NOT NULL,
    next_due       date,
    checks         smallint NOT NULL DEFAULT 0,
    out_streak     smallint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (identity_id, person)
);
CREATE INDEX child_case_village_idx ON child_case (village_code);
CREATE INDEX child_case_due_idx ON child_case (next_due) WHERE next_due IS NOT NULL;

-- case_visit: a visit to a case's household, from the visit form or over
-- HTTP. submission_id makes a resent visit a no-op: the form submission's
-- uuid, or 'http:<key id>:<Idempotency-Key>'. No free text.
CREATE TABLE case_visit (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id       bigint NOT NULL REFERENCES child_case (id) ON DELETE CASCADE,
    household_id  bigint NOT NULL,
    submission_id text NOT NULL UNIQUE,
    source        text NOT NULL CHECK (source IN ('kobo', 'odk', 'http')),
    key_id        bigint,
    visited_on    date NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('remediation', 'follow_up')),
    outcome       text NOT NULL CHECK (outcome IN ('met', 'not_found', 'moved', 'refused')),
    child_working boolean,
    in_school     boolean,
    actions       text[] NOT NULL DEFAULT '{}',
    action_status text CHECK (action_status IN ('planned', 'delivered')),
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_visit_case_idx ON case_visit (case_id, visited_on);

-- round_area: each round's published counts and prevalence per area, and
-- the change since the previous round, under the publication rule (only
-- published values are stored). Every scoring run rebuilds it for every
-- round under its own model, so rounds compare like with like.
CREATE TABLE round_area (
    round_id           text NOT NULL REFERENCES survey_round (id) ON DELETE CASCADE,
    level              text NOT NULL CHECK (level IN ('desa', 'kecamatan', 'kabupaten')),
    code               text NOT NULL,
    parent_code        text,
    status             text NOT NULL,
    households         integer,
    children           integer,
    hazardous          integer,
    child_labour       integer,
    prevalence         double precision,
    prevalence_lo      double precision,
    prevalence_hi      double precision,
    previous_round     text,
    change             double precision,
    change_lo          double precision,
    change_hi          double precision,
    change_significant boolean,
    PRIMARY KEY (round_id, level, code)
);

-- round_summary: a round's size and the design effect its changes use.
CREATE TABLE round_summary (
    round_id      text PRIMARY KEY REFERENCES survey_round (id) ON DELETE CASCADE,
    households    integer NOT NULL,
    children      integer NOT NULL,
    design_effect double precision NOT NULL,
    score_run_id  bigint NOT NULL
);

ALTER TABLE score_run ADD COLUMN round_id text REFERENCES survey_round (id);
UPDATE score_run SET round_id = 'baseline' WHERE EXISTS (SELECT 1 FROM survey_round WHERE id = 'baseline');

-- scored_round: the round the published map shows: inside a scoring run,
-- the run's (riskmap.round, set locally); else the latest run's.
CREATE FUNCTION scored_round() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('riskmap.round', true), ''),
                    (SELECT round_id FROM score_run ORDER BY id DESC LIMIT 1))
$$;

-- erase_household now erases the household in every round: the data
-- subject is the household, not one of its submissions.
CREATE OR REPLACE FUNCTION erase_household(p_uuid text, p_by text, p_reason text, p_kind text, p_key bigint DEFAULT NULL, p_role text DEFAULT 'admin')
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ident bigint;
    vcode text;
    hid   bigint;
    t     record;
    n     integer := 0;
BEGIN
    IF coalesce(btrim(p_reason), '') = '' THEN
        RAISE EXCEPTION 'a reason for the erasure is required' USING ERRCODE = '22023';
    END IF;
    PERFORM pg_advisory_xact_lock(scoring_lock());
    SELECT identity_id, village_code INTO ident, vcode FROM household WHERE survey_uuid = p_uuid FOR UPDATE;
    IF vcode IS NULL THEN
        RAISE EXCEPTION 'no household with survey uuid %', p_uuid USING ERRCODE = 'P0002';
    END IF;
    FOR hid IN SELECT id FROM household WHERE identity_id = ident OR survey_uuid = p_uuid FOR UPDATE LOOP
        FOR t IN
            SELECT c.table_name FROM information_schema.columns c
            JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
            WHERE c.table_schema = 'public' AND c.column_name = 'household_id' AND tb.table_type = 'BASE TABLE'
        LOOP
            EXECUTE format('DELETE FROM %I WHERE household_id = $1', t.table_name) USING hid;
        END LOOP;
        DELETE FROM household WHERE id = hid;
        n := n + 1;
    END LOOP;
    INSERT INTO erasure (uuid_hash, erased_by, reason, kind, village_code)
    VALUES (erasure_hash(p_uuid), p_by, btrim(p_reason), p_kind, vcode);
    INSERT INTO publication_due (since, erasures) VALUES (now(), n)
    ON CONFLICT (one) DO UPDATE SET erasures = publication_due.erasures + n;
    INSERT INTO audit_log (key_id, role, route, params, records)
    VALUES (p_key, p_role, 'erase household',
            jsonb_build_object('uuid_hash', encode(erasure_hash(p_uuid), 'hex'), 'kind', p_kind, 'by', p_by, 'submissions', n), n);
    RETURN vcode;
END $$;
REVOKE EXECUTE ON FUNCTION erase_household(text, text, text, text, bigint, text) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        GRANT EXECUTE ON FUNCTION erase_household(text, text, text, text, bigint, text) TO riskmap_serve;
        GRANT SELECT ON survey_round, identity_review, child_case, case_visit, round_area, round_summary TO riskmap_serve;
        -- Staff record visits over HTTP: the service inserts visits and
        -- updates a case's derived status, nothing else.
        GRANT INSERT ON case_visit TO riskmap_serve;
        GRANT UPDATE (status, status_on, next_due, checks, out_streak, updated_at) ON child_case TO riskmap_serve;
    END IF;
END $$;
