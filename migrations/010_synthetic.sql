-- 010: whether the data is the programme's or the generator's. An import
-- run of generated (demo) data is synthetic; a scoring run is synthetic when
-- any household it scored came from such an import, and the API and the map
-- say so wherever the figures are shown.
ALTER TABLE import_run ADD COLUMN synthetic boolean NOT NULL DEFAULT false;
ALTER TABLE score_run ADD COLUMN synthetic boolean NOT NULL DEFAULT false;
