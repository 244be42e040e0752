-- Prewritten continuations (issue 14): while a part waits for its choice, the bot writes
-- what would follow a choice. Only finished drafts are kept, so a restart reuses them;
-- `basis` fingerprints the request they were written from (memory, recent parts,
-- choice), and a draft is used only while the real turn would send the same.
CREATE TABLE drafts (
    segment_id     INTEGER NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    choice_index   INTEGER NOT NULL,
    session_id     INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    basis          TEXT    NOT NULL,
    narration      TEXT    NOT NULL,
    choices        TEXT    NOT NULL,
    scene          TEXT    NOT NULL,
    model          TEXT    NOT NULL,
    image_prompt   TEXT    NOT NULL DEFAULT '',
    image_negative TEXT    NOT NULL DEFAULT '',
    image_source   TEXT,
    created_at     REAL    NOT NULL,
    PRIMARY KEY (segment_id, choice_index)
);
CREATE INDEX drafts_session ON drafts (session_id);
