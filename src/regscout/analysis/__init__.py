"""Image analysis: layers streamed once, files captured for analyzers, results merged per image."""
