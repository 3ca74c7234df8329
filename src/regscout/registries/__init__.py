"""Registry access: one OCI Distribution client and one adapter per registry type."""
