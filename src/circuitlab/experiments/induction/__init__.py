"""Two layers form induction heads: the recipe that grows them on a CPU (``recipe``), training with
the heads tracked (``train``), the claim (``claim``: find the heads, K-composition, ablation), its
figures and the attention-viewer data (``figures``, ``viewer``)."""
