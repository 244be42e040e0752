-- Several processes on one PostgreSQL (issue 17): who writes a segment (kind 'write',
-- renewed while the narrator streams) and who closes a due vote (kind 'vote') until
-- `expires_at` (the processes' clock, seconds). A claim past its time may be taken by
-- another process: that is how a dead process's segment is written again.
CREATE TABLE fleet_claims (
    segment_id  BIGINT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('write', 'vote')),
    owner       TEXT NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (segment_id, kind)
);
CREATE INDEX fleet_claims_expiry ON fleet_claims (kind, expires_at);
