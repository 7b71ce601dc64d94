-- 020: which villages a round shows as surveyed before they have a basis.
--
-- A village surveyed with fewer households than a batch (10) has no basis
-- and shows insufficient_data rather than no_data. That flag was read from
-- the live household table at every run, so one late household arriving
-- in an unsurveyed village moved it from no_data to insufficient_data in
-- the next release with no batch behind the move: the release history
-- check (disclosure-check) rightly refused it, and the move said that a
-- household had just been surveyed there. The flag is now taken once,
-- when a round is first published, and kept: later arrivals below a batch
-- wait, as every other change does.
CREATE TABLE release_surveyed (
    round_id     text NOT NULL,
    village_code text NOT NULL,
    PRIMARY KEY (round_id, village_code)
);

-- The villages the latest release showed so.
INSERT INTO release_surveyed (round_id, village_code)
SELECT a.round_id, a.code FROM round_area a
WHERE a.level = 'desa' AND a.status = 'insufficient_data'
  AND NOT EXISTS (SELECT 1 FROM release_basis b WHERE b.round_id = a.round_id AND b.village_code = a.code);
