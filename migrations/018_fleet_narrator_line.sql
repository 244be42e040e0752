-- The narrator's line is the fleet's (issue 17; PostgreSQL only, SQLite keeps its line in
-- memory): one row per waiting narrator request, `kind` its TextKind (0 story text,
-- 1 memory, 2 image prompt, 3 prewrite), and each guild's last turn per kind. The tables
-- exist here too so one number means one schema on both backends.
CREATE TABLE fleet_narrator_queue (
    job_id      TEXT PRIMARY KEY,
    guild       TEXT NOT NULL,
    kind        INTEGER NOT NULL CHECK (kind IN (0, 1, 2, 3)),
    owner       TEXT NOT NULL,
    arrived     INTEGER NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE TABLE fleet_narrator_turns (
    kind        INTEGER NOT NULL,
    guild       TEXT NOT NULL,
    served      INTEGER NOT NULL,
    PRIMARY KEY (kind, guild)
);
