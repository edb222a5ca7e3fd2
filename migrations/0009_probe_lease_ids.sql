-- Each probe claim gets its own lease id, and a probe's result is written
-- only under the id it claimed: two claims by one replica (a background
-- probe and a forced one) can no longer share, and release, one lease.
ALTER TABLE connection_status ADD COLUMN lease_id uuid;
-- While a forced probe (an action's test) waits for a connection's lease,
-- background probes of it hold back, so they cannot starve it.
ALTER TABLE connection_status ADD COLUMN forced_probe_waiting_until timestamptz;
