"""One analyzer per ecosystem. The list of analyzers is ANALYZERS in analyzers/registry.py."""
