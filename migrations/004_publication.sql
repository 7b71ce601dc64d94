-- 004: what aggregates may be published. Counts of 1-4 children or households
-- are withheld, with complementary cells so that none can be recovered from
-- published totals (risk.Suppress); `riskmap score` fills area_suppressed in
-- the same transaction as the scores. Every API output of area statistics
-- reads area_public, never area_score.
CREATE TABLE area_suppressed (
    level   text NOT NULL,
    code    text NOT NULL,
    measure text NOT NULL CHECK (measure IN ('households', 'children', 'hazardous', 'child_labour', 'light_work', 'not_working')),
    PRIMARY KEY (level, code, measure)
);

CREATE VIEW area_public AS
SELECT s.level, s.code, s.parent_code,
    CASE WHEN x.m ? 'households' THEN NULL ELSE s.households END AS households,
    CASE WHEN x.m ? 'children' THEN NULL ELSE s.children END AS children,
    CASE WHEN x.m ? 'hazardous' THEN NULL ELSE s.hazardous END AS hazardous,
    CASE WHEN x.m ? 'child_labour' THEN NULL ELSE s.child_labour END AS child_labour,
    CASE WHEN x.m ? 'light_work' THEN NULL ELSE s.light_work END AS light_work,
    CASE WHEN x.m ? 'not_working' THEN NULL ELSE s.not_working END AS not_working,
    -- a rate times a published total would give a withheld count back
    CASE WHEN x.m ?| array['hazardous', 'child_labour', 'children'] THEN NULL ELSE s.prevalence END AS prevalence,
    CASE WHEN x.m ?| array['hazardous', 'child_labour', 'children'] THEN NULL ELSE s.prevalence_smoothed END AS prevalence_smoothed,
    CASE WHEN x.m ? 'households' THEN NULL ELSE s.mean_household_score END AS mean_household_score,
    CASE WHEN x.m ? 'households' THEN NULL ELSE s.max_household_score END AS max_household_score,
    s.tobacco_share,
    CASE WHEN x.m ? 'households' THEN NULL ELSE s.farm_labourer_share END AS farm_labourer_share,
    CASE WHEN x.m ? 'households' THEN NULL ELSE s.poverty_share END AS poverty_share,
    s.institutions_missing, s.score, s.tier,
    CASE WHEN x.m ?| array['hazardous', 'child_labour', 'children'] THEN s.components - 'prevalence' ELSE s.components END AS components,
    s.monthly,
    coalesce(x.list, '{}') AS suppressed
FROM area_score s
LEFT JOIN (SELECT level, code, array_agg(measure ORDER BY measure) AS list, jsonb_object_agg(measure, true) AS m
           FROM area_suppressed GROUP BY level, code) x USING (level, code);
