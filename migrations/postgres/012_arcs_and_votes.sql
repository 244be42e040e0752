-- Stories with endings and votes that wait (issue 16). The length, who chooses and what
-- decides an empty vote live in the settings JSON; the arc stage follows from them.
-- When the story reached its ending by itself (NULL: going on, or stopped by someone).
ALTER TABLE sessions ADD COLUMN ended_at DOUBLE PRECISION;
-- A group vote nobody voted in: 0 its first window, 1 extended once, 2 both ran out.
ALTER TABLE segments ADD COLUMN vote_extensions INTEGER NOT NULL DEFAULT 0;
