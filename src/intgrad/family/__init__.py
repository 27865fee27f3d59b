"""The IG family on the one path engine: Expected Gradients, SmoothGrad, Blur IG, Guided IG,
IDGI, XRAI and Integrated/Expected Hessians.

Every function takes a model (or an :class:`~intgrad.Explainer`, whose compiled steps it
reuses) and framework tensors, runs in PyTorch, TensorFlow and JAX through the engine's array
primitives, and returns an :class:`~intgrad.Attribution` with its completeness report where the
method has one.
"""
