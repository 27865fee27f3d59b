"""The framework-free core: quadrature rules, baselines, the accumulation loop and the result."""
