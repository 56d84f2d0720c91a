"""The seed's transformer pieces and the framework's structural claims, measured on random models.

No training: these are properties of the architecture itself. ``encoding``: sinusoidal positions,
LayerNorm; ``heads``: additive heads, refactoring W_OV / W_QK; ``residual``: no privileged basis,
virtual weights. ``models``: the small random transformers they are measured on.
"""
