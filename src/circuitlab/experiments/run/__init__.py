"""Running the claims: the runner (``reproduce``), its results file, progress and machine info.

Import the modules themselves (``circuitlab.experiments.run.runner``, ``.results``): this package
imports nothing, so the report can read results without loading a claim.
"""
