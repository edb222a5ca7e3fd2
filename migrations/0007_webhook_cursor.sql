-- Processing follows the deliveries in commit order with one cursor, so a
-- delivery processed at its first attempt is never rewritten (an update per
-- delivery cost PostgreSQL as much as storing it). Writers insert under a
-- transaction advisory lock, so `seq` order is commit order: a processor
-- that sees seq N has seen every delivery below N. Only failed deliveries
-- change state ('retrying', 'dead_letter', then 'processed' if a retry
-- succeeds); 'pending' rows at or behind the cursor are processed, as the
-- view below reports.

ALTER TABLE webhook_deliveries ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX webhook_deliveries_seq ON webhook_deliveries (seq);

CREATE TABLE webhook_cursor (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq      bigint NOT NULL
);
INSERT INTO webhook_cursor (seq) SELECT coalesce(max(seq), 0) FROM webhook_deliveries;

-- Deliveries waiting when this ran are behind the cursor: retry them now.
UPDATE webhook_deliveries SET state = 'retrying', next_attempt_at = now() WHERE state = 'pending';

DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_retry ON webhook_deliveries (next_attempt_at)
    WHERE state = 'retrying';

-- Each delivery's state as a reader means it.
CREATE VIEW webhook_delivery_states AS
SELECT d.id, d.project, d.connection_id, d.dedupe_key, d.event_type, d.receive_time,
       CASE WHEN d.state = 'pending' AND d.seq <= c.seq THEN 'processed' ELSE d.state END AS state,
       CASE WHEN d.state = 'pending' AND d.seq <= c.seq THEN d.attempts + 1 ELSE d.attempts END AS attempts,
       d.last_error
FROM webhook_deliveries d CROSS JOIN webhook_cursor c;
