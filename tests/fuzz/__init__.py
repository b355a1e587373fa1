"""Fuzz campaign for the parser and the pipeline (run: python -m tests.fuzz.campaign)."""
