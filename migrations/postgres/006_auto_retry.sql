-- A part that failed because the narrator was unreachable is retried by itself: how many
-- automatic tries led to this part, and when the next one is due (NULL: none planned).
ALTER TABLE segments ADD COLUMN auto_retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segments ADD COLUMN auto_retry_at DOUBLE PRECISION;
