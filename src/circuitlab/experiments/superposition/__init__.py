"""Reproductions of "Toy Models of Superposition" (Elhage et al. 2022), and SAEs that undo it.

``pentagon``       5 features in 2 dims: dense keeps 2 orthogonal, sparse makes a pentagon
``sweep``          20 features in 5 dims: sparsity lets ReLU models store more than 5
``dimensionality`` D_i sticks at 1, 3/4, 2/3, 1/2, 2/5, 1/3
``sae_toy``        a sparse autoencoder finds the toy model's feature directions
``sae_transformer`` a sparse autoencoder on the 2-layer induction model's residual stream
``sizes``, ``restarts``, ``figures``: per-profile sizes, training with restarts, the figures.
"""
