-- The narrator's line is the fleet's (issue 17): every narrator request waiting in any
-- process has a row, `kind` its TextKind (0 story text, 1 memory, 2 image prompt,
-- 3 prewrite: the order served). Guilds take turns within a kind: `served` counts when
-- each guild's request of that kind last got a slot, shared by the fleet. A row past
-- `expires_at` (its process died) no longer waits.
CREATE TABLE fleet_narrator_queue (
    job_id      TEXT PRIMARY KEY,
    guild       TEXT NOT NULL,
    kind        SMALLINT NOT NULL CHECK (kind IN (0, 1, 2, 3)),
    owner       TEXT NOT NULL,
    arrived     BIGINT GENERATED ALWAYS AS IDENTITY,
    expires_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX fleet_narrator_queue_owner ON fleet_narrator_queue (owner);
CREATE TABLE fleet_narrator_turns (
    kind        SMALLINT NOT NULL,
    guild       TEXT NOT NULL,
    served      BIGINT NOT NULL,
    PRIMARY KEY (kind, guild)
);
