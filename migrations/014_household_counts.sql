-- 014: a household's children counts kept with its score. The households
-- collection counted each household's children and its hazardous and
-- child-labour children with three subqueries per row: 220 of 640 ms of a
-- page of 10,000. A scoring run now writes them (score_households.go) from
-- the same grouping that scores the household; unscored households (a
-- survey imported since the last run) are still counted on reading.

ALTER TABLE household_score
    ADD COLUMN n_children     integer,
    ADD COLUMN n_hazardous    integer,
    ADD COLUMN n_child_labour integer;

UPDATE household_score s
SET n_children = k.children, n_hazardous = k.hazardous, n_child_labour = k.child_labour
FROM (SELECT c.household_id, count(*) AS children,
             count(*) FILTER (WHERE k.classification = 'hazardous') AS hazardous,
             count(*) FILTER (WHERE k.classification = 'child_labour') AS child_labour
      FROM child c LEFT JOIN child_class k USING (household_id, ordinal)
      GROUP BY c.household_id) k
WHERE k.household_id = s.household_id;

UPDATE household_score SET n_children = 0, n_hazardous = 0, n_child_labour = 0 WHERE n_children IS NULL;

-- The data version (DataVersion) counts erasures too: an erasure changes
-- what a households page holds, and the counts kept for a version. The
-- service reads the erasures' ids, and nothing else of them.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskmap_serve') THEN
        GRANT SELECT (id) ON erasure TO riskmap_serve;
    END IF;
END $$;
