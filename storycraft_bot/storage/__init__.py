"""Storage: the store behind the core's StoryStore port (SQLite)."""
