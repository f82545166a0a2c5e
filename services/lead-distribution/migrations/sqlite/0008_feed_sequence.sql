-- The feed's sequence, numbered in commit order. The old `seq` was taken
-- when a row was inserted, so on PostgreSQL a transaction that inserted
-- first could commit last, under a watcher that had already read past it:
-- its event was never streamed. Rows are now inserted unnumbered (`id`
-- keeps insertion order) and numbered after they commit, by one numbering
-- transaction at a time (store::feed::number), so a committed number is
-- never followed by a smaller one: a cursor can resume without a gap.
ALTER TABLE rep_events RENAME COLUMN seq TO id;
ALTER TABLE rep_events ADD COLUMN seq INTEGER;
UPDATE rep_events SET seq = id;
DROP INDEX rep_events_person;
CREATE INDEX rep_events_person ON rep_events (person_id, seq);
CREATE UNIQUE INDEX rep_events_seq ON rep_events (seq);
CREATE INDEX rep_events_unnumbered ON rep_events (id) WHERE seq IS NULL;

-- The last number given (numbers are consecutive from here on; events
-- older than the feed's retention are deleted from the oldest).
CREATE TABLE rep_feed (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    top INTEGER NOT NULL
) STRICT;
INSERT INTO rep_feed (one, top) VALUES (1, COALESCE((SELECT MAX(seq) FROM rep_events), 0));
