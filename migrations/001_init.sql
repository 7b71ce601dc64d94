-- 001: administrative boundaries, household surveys, tobacco fields, season calendar.
-- Geometries are WGS 84 (EPSG:4326). Codes are Kemendagri codes; everything joins on codes.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE kabupaten (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{2}\.[0-9]{2}$'),
    name        text NOT NULL,
    geom        geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    repair_note text,
    imported_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE kecamatan (
    code           text PRIMARY KEY CHECK (code ~ '^[0-9]{2}\.[0-9]{2}\.[0-9]{2}$'),
    name           text NOT NULL,
    kabupaten_code text NOT NULL,
    geom           geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    repair_note    text,
    imported_at    timestamptz NOT NULL DEFAULT now()
);

-- village holds desa and kelurahan.
CREATE TABLE village (
    code           text PRIMARY KEY CHECK (code ~ '^[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}$'),
    name           text NOT NULL,
    kecamatan_code text NOT NULL,
    kabupaten_code text NOT NULL,
    geom           geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    area_m2        double precision GENERATED ALWAYS AS (ST_Area(geom::geography)) STORED,
    repair_note    text,
    imported_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX kabupaten_geom_idx ON kabupaten USING gist (geom);
CREATE INDEX kecamatan_geom_idx ON kecamatan USING gist (geom);
CREATE INDEX kecamatan_kabupaten_idx ON kecamatan (kabupaten_code);
CREATE INDEX village_geom_idx ON village USING gist (geom);
CREATE INDEX village_kecamatan_idx ON village (kecamatan_code);

-- household is one survey submission. It never holds names or national ID numbers (NIK).
CREATE TABLE household (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    survey_uuid           text NOT NULL UNIQUE,
    source                text NOT NULL CHECK (source IN ('kobo', 'odk')),
    submitted_at          timestamptz,
    village_code          text NOT NULL,         -- from the point (ST_Covers)
    reported_village_code text,                  -- what the enumerator chose
    geom                  geometry(Point, 4326) NOT NULL,
    gps_precision_m       real,
    livelihoods           text[] NOT NULL DEFAULT '{}',
    poverty_programmes    text[] NOT NULL DEFAULT '{}',
    caregiver_education   text,
    single_parent         boolean NOT NULL DEFAULT false,
    members               smallint CHECK (members BETWEEN 1 AND 60),
    working_adults        smallint CHECK (working_adults BETWEEN 0 AND 60),
    location_note         text,
    imported_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX household_geom_idx ON household USING gist (geom);
CREATE INDEX household_village_idx ON household (village_code);

-- child is one row of the survey's repeat group.
CREATE TABLE child (
    household_id          bigint NOT NULL REFERENCES household (id) ON DELETE CASCADE,
    ordinal               smallint NOT NULL CHECK (ordinal >= 1),
    age                   smallint NOT NULL CHECK (age BETWEEN 0 AND 17),
    sex                   text NOT NULL CHECK (sex IN ('female', 'male')),
    school_status         text NOT NULL,
    harvest_absence_days  smallint NOT NULL DEFAULT 0 CHECK (harvest_absence_days BETWEEN 0 AND 366),
    works                 boolean NOT NULL,
    work_hours_week       real NOT NULL DEFAULT 0 CHECK (work_hours_week BETWEEN 0 AND 168),
    work_hours_day        real NOT NULL DEFAULT 0 CHECK (work_hours_day BETWEEN 0 AND 24),
    works_in_school_hours boolean NOT NULL DEFAULT false,
    tasks                 text[] NOT NULL DEFAULT '{}',
    gts_symptoms          text[] NOT NULL DEFAULT '{}',
    disability            boolean NOT NULL DEFAULT false,
    special_needs         boolean NOT NULL DEFAULT false,
    orphan                text NOT NULL DEFAULT 'no',
    PRIMARY KEY (household_id, ordinal)
);

-- plantation is one tobacco field.
CREATE TABLE plantation (
    id            text PRIMARY KEY,
    variety       text NOT NULL,
    planting_date date,
    village_code  text,
    geom          geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    area_m2       double precision GENERATED ALWAYS AS (ST_Area(geom::geography)) STORED,
    imported_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plantation_geom_idx ON plantation USING gist (geom);
CREATE INDEX plantation_geog_idx ON plantation USING gist ((geom::geography));

-- labour_calendar is the labour-demand index of a tobacco variety by month (0 none .. 1 peak).
CREATE TABLE labour_calendar (
    variety      text NOT NULL,
    month        smallint NOT NULL CHECK (month BETWEEN 1 AND 12),
    labour_index real NOT NULL CHECK (labour_index BETWEEN 0 AND 1),
    note         text,
    PRIMARY KEY (variety, month)
);

-- import_run records every import: what file, what happened.
CREATE TABLE import_run (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL,
    file        text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    inserted    integer NOT NULL,
    updated     integer NOT NULL,
    repaired    integer NOT NULL,
    rejected    integer NOT NULL
);
