"""Selection stage: the selector registry (`registry`), their math (`lga`: LGA, LGA(K');
`baselines`: SaLEM, CMA, Random, BF; `verify`: the shortlist behind verify; `common`: shared helpers), the sweep plan
(`plan`) and the stage body (`stage`)."""
