"""The web console: server-rendered pages over the services the API and CLI use."""
