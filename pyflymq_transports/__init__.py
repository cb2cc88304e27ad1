"""pyflymq_transports."""
