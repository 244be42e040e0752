-- Pictures that keep their faces (issue 16): each character of a story keeps a seed, and
-- their portrait (drawn once from their looks, or their first picture), a reference for later ones.
-- The story's style and illustrate mode live in its settings JSON.
CREATE TABLE character_faces (
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    seed       INTEGER NOT NULL,
    portrait   TEXT    NOT NULL DEFAULT '',
    updated_at REAL    NOT NULL,
    PRIMARY KEY (session_id, name)
);

-- A prewritten draft keeps the narrator's word on whether its scene is new.
ALTER TABLE drafts ADD COLUMN new_scene INTEGER NOT NULL DEFAULT 1;
