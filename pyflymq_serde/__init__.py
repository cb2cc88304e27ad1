"""pyflymq_serde."""
