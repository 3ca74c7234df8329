"""One module per console page; each has a `router`."""
