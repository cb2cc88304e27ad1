"""pyflymq."""
