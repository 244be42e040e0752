"""Storage: the store behind the core's StoryStore port (SQLite; PostgreSQL for a fleet)."""
