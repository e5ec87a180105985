"""Per-sample modules declared with ``conformance.per_sample``, each with correct batched rewrites."""
