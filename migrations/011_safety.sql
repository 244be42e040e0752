-- Safety (issue 15): words and patterns a place blocks in what players type, when a
-- user last did a limited action (cooldowns survive a restart), how often each part of
-- a story was rewritten or redrawn, the refusals of typed text, with who typed it, and
-- the notes waiting to be deleted.
CREATE TABLE blocked_patterns (
    platform    TEXT    NOT NULL,
    guild_id    TEXT    NOT NULL,
    pattern     TEXT    NOT NULL,  -- a plain word or phrase, or /regex/
    added_by    TEXT    NOT NULL,
    added_at    REAL    NOT NULL,
    PRIMARY KEY (platform, guild_id, pattern)
);

CREATE TABLE user_cooldowns (
    platform    TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    last_at     REAL    NOT NULL,
    PRIMARY KEY (platform, user_id, action)
);

CREATE TABLE part_redos (
    session_id  INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (session_id, idx, action)
);

CREATE TABLE moderation_refusals (
    platform    TEXT    NOT NULL,
    guild_id    TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    at          REAL    NOT NULL
);

-- Notes a screen posted to delete later (Telegram's refusals in groups): still deleted
-- after a restart.
CREATE TABLE pending_deletions (
    platform    TEXT    NOT NULL,
    chat_id     TEXT    NOT NULL,
    message_id  INTEGER NOT NULL,
    due_at      REAL    NOT NULL,
    PRIMARY KEY (platform, chat_id, message_id)
);

-- How many stories a user runs at once.
CREATE INDEX sessions_by_starter ON sessions (platform, starter_id) WHERE state != 'stopped';
