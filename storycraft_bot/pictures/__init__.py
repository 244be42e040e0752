"""Pictures: ComfyUI servers, workflows, the GPU queue and memory hand-off."""
