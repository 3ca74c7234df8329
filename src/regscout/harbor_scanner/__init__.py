"""regscout as Harbor's external scanner (pluggable scanner API v1.1 and v1.2)."""
