"""Prefect flows: each submits a stage's Ray job and follows it to the end."""
