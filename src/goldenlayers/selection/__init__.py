"""Selection stage: the selector registry (`registry`), their math (`methods`: LGA, LGA(K'), SaLEM, CMA, Random, BF,
the sweep plan) and the stage body (`stage`)."""
