"""Appendix settings (Tables 12-13): composite/unstructured evaluation after an edit (`evaluate`), generation
metrics (`metrics`) and the tables' rows (`tables`)."""
