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
