-- Several processes on one PostgreSQL (issue 17): who writes a segment and who closes a
-- due vote, until when, and the jobs running across the fleet. One process owns a SQLite
-- file (storage.lock), so SQLite never reads these tables; they exist so one number
-- means one schema on both backends.
CREATE TABLE fleet_claims (
    segment_id  INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('write', 'vote', 'retry')),
    owner       TEXT NOT NULL,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (segment_id, kind)
);
CREATE TABLE fleet_slots (
    job_id      TEXT PRIMARY KEY,
    pool        TEXT NOT NULL CHECK (pool IN ('picture', 'text')),
    guild       TEXT NOT NULL,
    owner       TEXT NOT NULL,
    expires_at  REAL NOT NULL
);
