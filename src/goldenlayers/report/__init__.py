"""Report stage: the paper tables registry (`tables`), figures (`plots`) and the files written with their
provenance sidecars (`write`)."""
