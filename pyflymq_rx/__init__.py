"""pyflymq_rx."""
