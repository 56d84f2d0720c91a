"""The framework's 0- and 1-layer results, reproduced on the embedded corpus.

``zero_layer``: logits = W_E W_U (through ln_final), so the model can only learn the bigram table.
``one_layer``: attention adds, per head, skip-trigrams "A ... B -> C" read off the full QK and OV
circuits, and copying heads (positive eigenvalues of W_E W_OV W_U). ``lm``: the two models and
their cached training.
"""
