-- Every story's read-only book link: an unguessable id. New stories get one from
-- Python's `secrets`; stories made before this migration get 128 random bits here.
ALTER TABLE sessions ADD COLUMN book_id TEXT NOT NULL DEFAULT '';
UPDATE sessions SET book_id = md5(random()::text || clock_timestamp()::text || id::text)
    WHERE book_id = '';
CREATE UNIQUE INDEX sessions_book_id ON sessions (book_id);
