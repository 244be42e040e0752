-- The fleet's line decides every turn on the GPU (issue 17): each process asks for the
-- turns of its own jobs, granted while nothing of another process comes first, so the
-- line no longer needs `asking`. Text turns on a GPU shared with pictures stand in it too:
-- `kind` is what waits, in the order served (0 text, 1 live picture, 2 backlog). Its rows
-- only live while their processes run, so the table is made anew.
DROP TABLE fleet_queue;
CREATE TABLE fleet_queue (
    job_id      TEXT PRIMARY KEY,
    guild       TEXT NOT NULL,
    session_id  BIGINT NOT NULL,
    kind        SMALLINT NOT NULL CHECK (kind IN (0, 1, 2)),
    owner       TEXT NOT NULL,
    arrived     BIGINT GENERATED ALWAYS AS IDENTITY,
    expires_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX fleet_queue_session ON fleet_queue (session_id) WHERE kind = 1;
CREATE INDEX fleet_queue_owner ON fleet_queue (owner);
-- A text turn on the shared GPU holds a slot counted in the pictures' total.
ALTER TABLE fleet_slots DROP CONSTRAINT fleet_slots_pool_check;
ALTER TABLE fleet_slots ADD CONSTRAINT fleet_slots_pool_check
    CHECK (pool IN ('picture', 'text', 'gpu_text'));
