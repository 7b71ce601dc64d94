-- 002: the risk model's inputs (institutions, follow-ups) and outputs (scores, hotspots).
-- Output tables hold the latest scoring run only; `riskmap score` replaces
-- them in one transaction, so readers see the previous run or the new one.

-- institution: a village's protective institutions (../shared/domain.md).
CREATE TABLE institution (
    village_code text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('task_force', 'forum_anak', 'perdes')),
    established  date,
    note         text,
    PRIMARY KEY (village_code, kind)
);

-- follow_up: a household under CLMRS follow-up (identify, remediate, follow up
-- every 6 months); open while ended_on is null. Targeting leaves these out.
CREATE TABLE follow_up (
    household_id bigint NOT NULL REFERENCES household (id) ON DELETE CASCADE,
    started_on   date NOT NULL,
    ended_on     date CHECK (ended_on IS NULL OR ended_on >= started_on),
    note         text,
    PRIMARY KEY (household_id, started_on)
);

CREATE TABLE score_run (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_version text NOT NULL,
    model         jsonb NOT NULL,
    month         smallint CHECK (month BETWEEN 1 AND 12),
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    stages        jsonb NOT NULL,   -- seconds per stage
    households    integer NOT NULL,
    children      integer NOT NULL,
    villages      integer NOT NULL
);

-- child_class: each child's classification and its reason (derived; no
-- foreign key so that scoring 2,000,000 children stays fast; rebuilt each run).
CREATE TABLE child_class (
    household_id   bigint NOT NULL,
    ordinal        smallint NOT NULL,
    classification text NOT NULL CHECK (classification IN ('hazardous', 'child_labour', 'light_work', 'not_working')),
    reason         text NOT NULL,
    PRIMARY KEY (household_id, ordinal)
);

CREATE TABLE household_score (
    household_id    bigint PRIMARY KEY,
    village_code    text NOT NULL,
    score           real NOT NULL CHECK (score BETWEEN 0 AND 100),
    tier            text NOT NULL,
    top_tier_reason text,           -- a hazardous or child_labour child puts the household in the top tier
    components      jsonb NOT NULL, -- points earned per indicator; they sum to score
    nearest_field_m real,           -- within the model's radius, else null
    variety         text NOT NULL   -- whose calendar drives the seasonal curve: score x score_calendar
);
CREATE INDEX household_score_village_idx ON household_score (village_code);

-- score_calendar: the labour-demand index by month that the latest run used
-- for each variety. A household's seasonal risk in month m is its score
-- times labour_index[m] of its variety (household_season below).
CREATE TABLE score_calendar (
    variety      text PRIMARY KEY,
    labour_index real[] NOT NULL CHECK (cardinality(labour_index) = 12)
);

CREATE VIEW household_season AS
SELECT s.household_id, m.month, (s.score * c.labour_index[m.month])::real AS seasonal_score
FROM household_score s
JOIN score_calendar c USING (variety)
CROSS JOIN generate_series(1, 12) AS m(month);

-- area_score: villages (level desa) and their rollups to kecamatan and kabupaten.
CREATE TABLE area_score (
    level                text NOT NULL CHECK (level IN ('desa', 'kecamatan', 'kabupaten')),
    code                 text NOT NULL,
    parent_code          text,
    households           integer NOT NULL,
    children             integer NOT NULL,   -- aged 5-17, the denominator of prevalence
    hazardous            integer NOT NULL,
    child_labour         integer NOT NULL,
    light_work           integer NOT NULL,
    not_working          integer NOT NULL,
    prevalence           real,               -- (hazardous + child_labour) / children
    prevalence_smoothed  real,               -- empirical Bayes toward the kecamatan rate
    mean_household_score real,
    max_household_score  real,
    tobacco_share        real,               -- share of the area under tobacco fields
    farm_labourer_share  real,
    poverty_share        real,
    institutions_missing text[],
    score                real,               -- null where no household was surveyed
    tier                 text NOT NULL,      -- low, medium, high or no_data
    components           jsonb,
    monthly              real[],
    PRIMARY KEY (level, code)
);

CREATE TABLE hotspot (
    village_code text PRIMARY KEY,
    value        real NOT NULL,   -- the village score analysed
    neighbours   integer NOT NULL,
    z            real NOT NULL,
    p            real NOT NULL,
    class        text NOT NULL
);
