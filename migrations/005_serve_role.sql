-- 005: the role `riskmap serve` works as. It reads everything it publishes,
-- appends to the audit log and notes when a key was last used, and nothing
-- else: it cannot change data or the schema, even through a bug. Roles are
-- cluster-wide; where the migrating user may not create roles, this is
-- skipped and serve says so when it starts.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve')
       AND (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
        CREATE ROLE riskmap_serve NOLOGIN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        GRANT USAGE ON SCHEMA public TO riskmap_serve;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO riskmap_serve;
        GRANT INSERT ON audit_log TO riskmap_serve;
        GRANT UPDATE (last_used_at) ON api_key TO riskmap_serve;
        IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            EXECUTE format('GRANT riskmap_serve TO %I', current_user);
        END IF;
    END IF;
END $$;
