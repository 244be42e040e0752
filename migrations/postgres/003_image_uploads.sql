-- Platform references of uploaded pictures (e.g. Telegram's file_id), to reuse them.
ALTER TABLE segments ADD COLUMN image_uploads TEXT NOT NULL DEFAULT '{}';
