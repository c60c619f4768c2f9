"""ragloop training stage."""
