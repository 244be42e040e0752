-- The fleet's line decides every turn on the GPU (issue 17; PostgreSQL only, SQLite keeps
-- its line in memory): `kind` is what waits (0 text on a shared GPU, 1 live picture,
-- 2 backlog) and `asking` is gone; a text turn's slot is pool 'gpu_text'. The tables are
-- made anew so one number means one schema on both backends.
DROP TABLE fleet_queue;
CREATE TABLE fleet_queue (
    job_id      TEXT PRIMARY KEY,
    guild       TEXT NOT NULL,
    session_id  INTEGER NOT NULL,
    kind        INTEGER NOT NULL CHECK (kind IN (0, 1, 2)),
    owner       TEXT NOT NULL,
    arrived     INTEGER NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE TABLE fleet_slots_new (
    job_id      TEXT PRIMARY KEY,
    pool        TEXT NOT NULL CHECK (pool IN ('picture', 'text', 'gpu_text')),
    guild       TEXT NOT NULL,
    owner       TEXT NOT NULL,
    expires_at  REAL NOT NULL
);
INSERT INTO fleet_slots_new SELECT job_id, pool, guild, owner, expires_at FROM fleet_slots;
DROP TABLE fleet_slots;
ALTER TABLE fleet_slots_new RENAME TO fleet_slots;
