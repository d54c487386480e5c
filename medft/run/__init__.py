"""Run folders: naming, atomic writes, manifest."""
