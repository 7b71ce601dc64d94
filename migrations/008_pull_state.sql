-- Where each server pull (riskmap import kobo / import odk) stopped: the
-- highest KoBoToolbox _id or the newest ODK Central submissionDate loaded.
-- It is written in the same transaction as the submissions it covers, so a
-- failed or refused pull leaves it where it was.
CREATE TABLE pull_state (
    source      text PRIMARY KEY,  -- kobo:SERVER/ASSET or odk:SERVER/PROJECT/FORM
    cursor      text NOT NULL,
    submissions integer NOT NULL,  -- read by the last pull
    pulled_at   timestamptz NOT NULL DEFAULT now()
);
