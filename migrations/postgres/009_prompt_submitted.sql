-- The ComfyUI prompt a picture waits for, stored when it is submitted (issue 11): after a
-- restart a part that still wants its picture waits for that prompt again instead of
-- submitting another, and a prompt no part wants any more is deleted or interrupted.
-- Cleared when the picture is stored; `submitted_seed` names the stored file.
ALTER TABLE segments ADD COLUMN submitted_server TEXT NOT NULL DEFAULT '';
ALTER TABLE segments ADD COLUMN submitted_prompt_id TEXT NOT NULL DEFAULT '';
ALTER TABLE segments ADD COLUMN submitted_seed BIGINT;
