"""ragloop evals stage."""
