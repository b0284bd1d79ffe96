"""Developer tooling: run the platform locally as separate processes, send demo demands."""
