"""The headline shape of the transformer benchmarks (issue 3), shared by every module that uses it.

2 layers, attention only, shortformer positions, LayerNorm, d_model 256, 8 heads of 32, vocab
4096, context 256 (batch 16 in the timing rows). ``QUICK`` is the smoke-test shape.
"""

HEADLINE = dict(
    n_layers=2,
    d_model=256,
    n_heads=8,
    d_head=32,
    d_vocab=4096,
    n_ctx=256,
    attn_only=True,
    positional="shortformer",
    normalization="layernorm",
)
QUICK = dict(HEADLINE, d_model=32, n_heads=4, d_head=8, d_vocab=128, n_ctx=32)
