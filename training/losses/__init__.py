"""One training objective per module; each docstring states inputs, formula and source."""
