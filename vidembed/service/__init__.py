"""The task service: validation, lifecycle, persistence and workers."""
