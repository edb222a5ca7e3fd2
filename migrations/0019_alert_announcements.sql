-- Alert changes waiting to be logged on their project's watch stream.
-- The transaction that fires or resolves an alert queues its event here
-- instead of taking the event log's lock itself: a probe or an action
-- evaluates the rules while holding rows that event writers also lock, and
-- taking the log's lock there could deadlock. Any replica moves queued
-- rows into the log, in order, right after the commit or on its next poll.
CREATE TABLE alert_announcements (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project text NOT NULL,
    kind text NOT NULL,
    payload json NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);
