"""Numbered SQL migrations, shipped as package data (see storage.sqlite.shipped_migrations)."""
