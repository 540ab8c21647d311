"""Analysis stage: the sweep aggregated per (model, dataset, editor) with the split joined in (`aggregate`), and
the seeded re-splits of Table 16 and Figures 5-6 (`resampling`, `resampling_report`)."""
