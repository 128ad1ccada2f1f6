"""The chat page's parts: the controller, its list models, the generation worker, the transcript
view and Markdown rendering. Nothing here imports torch at module level."""
