"""Fixtures for tests and benchmarks: small analytic scenes with exact ground truth.

``real3d.testing.toyscene``: indoor scenes of boxes (``boxes_scene``, ``make_toy_scene``),
their renderer (``ToyRenderer``) and labelled RGB-D sequences through them
(``toy_sequence``). Not a pipeline stage: it may use the data engine, and no stage imports it.
"""
