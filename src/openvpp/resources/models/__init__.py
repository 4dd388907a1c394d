"""Physical models of resource types: pure functions over numpy arrays for a whole horizon."""
