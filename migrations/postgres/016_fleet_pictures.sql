-- Several processes on one PostgreSQL (issue 17): a 'picture' claim names the process
-- drawing a segment's picture (renewed while it waits and draws; one that ran out is
-- taken over by a sweeping process), a 'draft' claim the one writing a part in advance.
ALTER TABLE fleet_claims DROP CONSTRAINT fleet_claims_kind_check;
ALTER TABLE fleet_claims ADD CONSTRAINT fleet_claims_kind_check
    CHECK (kind IN ('write', 'vote', 'retry', 'picture', 'draft'));
-- The sweep looks for pictures still wanted: keep it to the few rows waiting or drawing.
CREATE INDEX segments_pictures_wanted ON segments (id)
    WHERE image_state IN ('none', 'queued', 'drawing');
-- The fleet's line of pictures: one row per picture waiting in any process, renewed
-- while it waits (a row past `expires_at` is a dead process's, and no longer counts).
-- `asking`: its process's own queue granted it, so it may take a slot when the fleet's
-- order says so; `arrived` orders arrivals across the fleet.
CREATE TABLE fleet_queue (
    job_id      TEXT PRIMARY KEY,
    guild       TEXT NOT NULL,
    session_id  BIGINT NOT NULL,
    backlog     BOOLEAN NOT NULL,
    asking      BOOLEAN NOT NULL DEFAULT FALSE,
    owner       TEXT NOT NULL,
    arrived     BIGINT GENERATED ALWAYS AS IDENTITY,
    expires_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX fleet_queue_session ON fleet_queue (session_id) WHERE NOT backlog;
-- When each guild was last served (a counter across the fleet): the round-robin.
CREATE TABLE fleet_guild_turns (
    guild       TEXT PRIMARY KEY,
    served      BIGINT NOT NULL
);
