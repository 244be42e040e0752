-- Where and how each picture was drawn, so it can be reproduced.
ALTER TABLE segments ADD COLUMN image_server TEXT NOT NULL DEFAULT '';
ALTER TABLE segments ADD COLUMN image_prompt_id TEXT NOT NULL DEFAULT '';
ALTER TABLE segments ADD COLUMN image_seconds DOUBLE PRECISION;
