-- 021: the change between rounds from the children surveyed in both.
--
-- Most children of a follow-up were surveyed at baseline too, and a child
-- in child labour in one round is likely to be in the next: the change
-- between the rounds is surer than two independent samples would make it.
-- round_panel keeps, per round and the round before it, how many children
-- the two rounds' bases share (by household identity and person) and the
-- within-village correlation of their status. It is one figure per round,
-- never per area, taken once, when the round's bases first share at least
-- 100 children with the earlier round's, and kept: like release_surveyed,
-- later arrivals do not move it, so no release can be differenced against
-- the next to learn a child's status from it.
CREATE TABLE round_panel (
    round_id       text NOT NULL REFERENCES survey_round (id) ON DELETE CASCADE,
    previous_round text NOT NULL REFERENCES survey_round (id) ON DELETE CASCADE,
    pairs          integer NOT NULL,            -- children in both rounds' bases (not published)
    overlap        double precision NOT NULL,   -- pairs / the later round's children, rounded to 0.05
    correlation    double precision NOT NULL,   -- rounded to 0.05, in [0, 0.95]
    taken_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (round_id, previous_round)
);

-- What a round's changes used, published with its size (round-level only).
ALTER TABLE round_summary ADD COLUMN panel_overlap double precision;
ALTER TABLE round_summary ADD COLUMN panel_correlation double precision;
-- Each change's variance over the independent rounds' (1: no panel).
ALTER TABLE round_area ADD COLUMN change_design_effect double precision;
