-- A downgrade waits for the period end.
ALTER TABLE subscriptions ADD COLUMN pending_plan_id TEXT;
