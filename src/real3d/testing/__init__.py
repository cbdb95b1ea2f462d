"""Fixtures for tests and benchmarks: small analytic scenes with exact ground truth.

``real3d.testing.toyscene``: indoor scenes of boxes (``boxes_scene``, ``make_toy_scene``),
their renderer (``ToyRenderer``) and labelled RGB-D sequences through them
(``toy_sequence``).
``real3d.testing.fusion``: whole sequences fused into a map and a scene graph as the
mapping and navigation benchmarks do, and data-engine homes kept fused on disk.

Not a pipeline stage: it may use the data engine, and no stage imports it.
"""
