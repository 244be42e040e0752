"""Settings and ComfyUI workflow files."""
