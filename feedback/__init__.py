"""ragloop feedback stage."""
