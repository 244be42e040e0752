-- Character cards and lorebooks (issue 16): what a story was started from. `card` is the
-- cleaned card as JSON ('' without one), `lore` the lorebook's entries as a JSON list.
CREATE TABLE story_sources (
    session_id INTEGER NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    card       TEXT    NOT NULL DEFAULT '',
    lore       TEXT    NOT NULL DEFAULT '[]',
    updated_at REAL    NOT NULL
);
