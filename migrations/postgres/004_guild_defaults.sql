-- Defaults a server (guild) sets for its new stories.
CREATE TABLE guild_defaults (
    platform    TEXT NOT NULL,
    guild_id    TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',
    updated_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (platform, guild_id)
);
