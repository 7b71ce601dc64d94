-- 003: API keys and the audit log of household- and child-level responses.

-- api_key: only a SHA-256 hash of each key is stored; the key itself is shown once.
CREATE TABLE api_key (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('planner', 'staff', 'admin')),
    areas        text[] NOT NULL DEFAULT '{}',  -- kecamatan or village codes; staff only see these
    key_hash     bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CHECK (role <> 'staff' OR cardinality(areas) > 0)
);

-- audit_log: append-only record of every response holding household- or child-level data.
CREATE TABLE audit_log (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    key_id   bigint REFERENCES api_key (id),
    role     text NOT NULL,
    route    text NOT NULL,
    params   jsonb NOT NULL,
    records  integer NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
