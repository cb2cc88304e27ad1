"""Helpers shared by the test suites (transcript loading, field conversion)."""
