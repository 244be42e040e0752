"""StoryCraft's platform-neutral core: stories, votes, narrator, illustrator, storage."""
