-- The event log takes a row per webhook delivery, so its writes are on the
-- ingest path's budget (they share the WAL flushes and the two cores).
-- Payloads are only ever written and read whole by the server, so `json`
-- (stored as sent) replaces `jsonb` (parsed into its binary form on every
-- insert and printed back on every read). Retention purges by `seq` from
-- the oldest row (see store::status::purge), so `created_at` needs no index.
ALTER TABLE status_events ALTER COLUMN payload TYPE json USING payload::json;
DROP INDEX status_events_created;
