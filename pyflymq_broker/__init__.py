"""pyflymq_broker."""
