"""Revisions of the metadata schema, oldest first; each file is one step."""
