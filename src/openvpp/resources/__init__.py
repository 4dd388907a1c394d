"""Resource templates (typed, versioned parameters) and their physical models (pure, vectorized).

Sign convention everywhere: power is positive for injection into the grid (generation,
discharge) and negative for withdrawal (consumption, charging).
"""
