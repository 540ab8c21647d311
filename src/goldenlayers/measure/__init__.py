"""Measuring stage: per-sample, per-layer evidence from the model (gradient scalars and SaLEM's factors, causal
traces). Reads data records; the selectors read what it writes."""
