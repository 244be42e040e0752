-- Several processes on one PostgreSQL (issue 17): a 'picture' claim names the process
-- drawing a segment's picture (renewed while it waits and draws), a 'draft' claim the
-- one writing a part in advance. SQLite never reads fleet_claims (one process owns the
-- file); its table is rebuilt with the wider check so one number means one schema.
CREATE TABLE fleet_claims_new (
    segment_id  INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('write', 'vote', 'retry', 'picture', 'draft')),
    owner       TEXT NOT NULL,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (segment_id, kind)
);
INSERT INTO fleet_claims_new SELECT segment_id, kind, owner, expires_at FROM fleet_claims;
DROP TABLE fleet_claims;
ALTER TABLE fleet_claims_new RENAME TO fleet_claims;
-- The fleet's line of pictures (PostgreSQL only; SQLite keeps its line in memory).
CREATE TABLE fleet_queue (
    job_id      TEXT PRIMARY KEY,
    guild       TEXT NOT NULL,
    session_id  INTEGER NOT NULL,
    backlog     INTEGER NOT NULL,
    asking      INTEGER NOT NULL DEFAULT 0,
    owner       TEXT NOT NULL,
    arrived     INTEGER NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE TABLE fleet_guild_turns (
    guild       TEXT PRIMARY KEY,
    served      INTEGER NOT NULL
);
