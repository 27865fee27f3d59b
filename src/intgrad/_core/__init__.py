"""The framework-free core: array primitives, the one chunk step and loop, paths, planners,
quadrature, baselines, targets, the result and the :class:`~intgrad.Explainer` session."""
