"""Narration: the Ollama side (client, prompts, replies, image prompts)."""
