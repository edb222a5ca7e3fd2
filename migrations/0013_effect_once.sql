-- Effects that run once (see actions::effects): an attempt records that it
-- is about to call its provider before it does, so a later attempt knows an
-- earlier one may have run the effect and can look for it (by the action's
-- tag) instead of repeating it.
ALTER TABLE actions ADD COLUMN effect_started_attempt integer;
-- Attempts that ran an effect again with no way to tell whether an earlier,
-- interrupted attempt had already run it: shown to callers.
ALTER TABLE actions ADD COLUMN unconfirmed_repeats integer NOT NULL DEFAULT 0;
