"""pyflymq_core."""
