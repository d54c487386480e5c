"""Scoring and statistics shared by every benchmark."""
