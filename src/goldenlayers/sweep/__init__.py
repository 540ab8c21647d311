"""Sweep stage: edit every sample at one layer and evaluate it (`single`: resumable partial files, fingerprint,
lock, chunks) and the sequential-editing sweep (`sequential`). The editing itself is `goldenlayers.editing.apply`."""
