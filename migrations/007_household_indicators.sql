-- A household's score components are each either 0 or the indicator's full
-- weight, so a household stores which indicators it meets as a bitmask
-- (bit i: the model's i-th household indicator) instead of a JSON object per
-- row: building a million JSON objects was the slowest step of a re-score.
-- score_component holds the scoring run's indicators and points, replaced in
-- the same transaction as household_score; household_components() turns a
-- bitmask back into the object the API serves.
CREATE TABLE score_component (
    bit    smallint PRIMARY KEY CHECK (bit BETWEEN 0 AND 14),
    name   text NOT NULL UNIQUE,
    points real NOT NULL CHECK (points >= 0)
);

-- Scores already in the database keep their components: the weights are the
-- largest points seen per indicator, the bits the indicators with points.
ALTER TABLE household_score ADD COLUMN indicators smallint NOT NULL DEFAULT 0;
INSERT INTO score_component (bit, name, points)
SELECT i - 1, n, coalesce((SELECT max((components->>n)::real) FROM household_score), 0)
FROM unnest(ARRAY['children_13_17', 'farm_labourer', 'school', 'handled_leaf', 'tobacco_proximity', 'poverty',
                  'single_parent_or_orphan', 'disability', 'dependency', 'low_caregiver_education']) WITH ORDINALITY AS t(n, i);
UPDATE household_score s SET indicators = (
    SELECT coalesce(sum(1 << bit), 0) FROM score_component WHERE (s.components->>name)::real > 0);
ALTER TABLE household_score DROP COLUMN components;

CREATE FUNCTION household_components(indicators smallint) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(name, CASE WHEN (indicators::int & (1 << bit)) <> 0 THEN points ELSE 0 END), '{}')
    FROM score_component
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        GRANT SELECT ON score_component TO riskmap_serve;
    END IF;
END $$;
