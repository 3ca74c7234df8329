"""regscout: watch container image registries."""

__version__ = "0.1.0"
