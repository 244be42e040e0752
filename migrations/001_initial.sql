-- Sessions, segments, votes and story memory.
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    platform      TEXT    NOT NULL,
    channel_id    TEXT    NOT NULL,
    thread_id     TEXT    NOT NULL DEFAULT '',
    guild_id      TEXT    NOT NULL,
    is_group      INTEGER NOT NULL,
    starter_id    TEXT    NOT NULL,
    starter_name  TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('active', 'paused', 'stopped')),
    language      TEXT    NOT NULL,
    genre         TEXT    NOT NULL,
    premise       TEXT    NOT NULL DEFAULT '',
    settings      TEXT    NOT NULL DEFAULT '{}',
    created_at    REAL    NOT NULL,
    updated_at    REAL    NOT NULL
);
-- One live story per channel; stopped ones stay for the record.
CREATE UNIQUE INDEX sessions_one_live_per_channel
    ON sessions (platform, channel_id, thread_id) WHERE state != 'stopped';

CREATE TABLE segments (
    id                  INTEGER PRIMARY KEY,
    session_id          INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    idx                 INTEGER NOT NULL,
    state               TEXT    NOT NULL
        CHECK (state IN ('generating', 'open', 'decided', 'failed', 'superseded')),
    narration           TEXT    NOT NULL DEFAULT '',
    choices             TEXT    NOT NULL DEFAULT '[]',
    scene               TEXT    NOT NULL DEFAULT '',
    prompt_choice       TEXT    NOT NULL DEFAULT '',
    chosen_index        INTEGER,
    decided_by          TEXT,
    vote_closes_at      REAL,
    model               TEXT    NOT NULL DEFAULT '',
    image_prompt        TEXT    NOT NULL DEFAULT '',
    image_negative      TEXT    NOT NULL DEFAULT '',
    image_prompt_source TEXT    NOT NULL DEFAULT '',
    image_state         TEXT    NOT NULL DEFAULT 'none',
    image_file          TEXT    NOT NULL DEFAULT '',
    image_seed          INTEGER,
    messages            TEXT    NOT NULL DEFAULT '[]',
    created_at          REAL    NOT NULL,
    updated_at          REAL    NOT NULL
);
-- Retry and undo supersede segments; only one live segment per position.
CREATE UNIQUE INDEX segments_one_live_per_index
    ON segments (session_id, idx) WHERE state != 'superseded';

CREATE TABLE votes (
    segment_id    INTEGER NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL,
    user_name     TEXT    NOT NULL,
    choice_index  INTEGER NOT NULL,
    voted_at      REAL    NOT NULL,
    PRIMARY KEY (segment_id, user_id)
);

CREATE TABLE story_memory (
    session_id    INTEGER PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    summary       TEXT    NOT NULL DEFAULT '',
    summary_upto  INTEGER NOT NULL DEFAULT -1,
    characters    TEXT    NOT NULL DEFAULT '[]',
    updated_at    REAL    NOT NULL
);
