-- Several processes on one PostgreSQL (issue 17): who writes a segment (kind 'write',
-- renewed while the narrator streams) and who closes a due vote (kind 'vote') until
-- `expires_at` (the processes' clock, seconds). A claim past its time may be taken by
-- another process: that is how a dead process's segment is written again.
CREATE TABLE fleet_claims (
    segment_id  BIGINT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('write', 'vote', 'retry')),
    owner       TEXT NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (segment_id, kind)
);
CREATE INDEX fleet_claims_expiry ON fleet_claims (kind, expires_at);
-- The jobs running across the fleet, one row per job: pictures (by ComfyUI prompt id)
-- and narrator requests, so the caps hold for every process together; a row past
-- `expires_at` (its process died) no longer counts.
CREATE TABLE fleet_slots (
    job_id      TEXT PRIMARY KEY,
    pool        TEXT NOT NULL CHECK (pool IN ('picture', 'text')),
    guild       TEXT NOT NULL,
    owner       TEXT NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX fleet_slots_expiry ON fleet_slots (pool, expires_at);
-- Every process sweeps for due votes, due retries and stalled parts every few seconds:
-- partial indexes keep each sweep to the few rows in those states.
CREATE INDEX segments_open_votes ON segments (vote_closes_at) WHERE state = 'open';
CREATE INDEX segments_failed_retries ON segments (auto_retry_at) WHERE state = 'failed';
CREATE INDEX segments_generating ON segments (updated_at) WHERE state = 'generating';
