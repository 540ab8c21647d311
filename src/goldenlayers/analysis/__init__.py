"""Analysis stage: the sweep aggregated per (model, dataset, editor) with the split joined in (`aggregate`), and
the seeded re-splits of Tables 16-17, Table 1 per metric and Figures 5-7 (`resampling`, `resampling_report`), and
the statistics of a verdict: paired tests, power, the bootstrap over facts (`verdict`)."""
