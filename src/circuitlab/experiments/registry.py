"""The claims `circuitlab reproduce` checks: one entry per claim, in the seed's order.

The registry is the one owner of what is said about a claim: its ``id``, ``title``, the part of
the seed it belongs to (``section``), the seed document's own words (``seed``, its maths in
Unicode), and, separately, the claim as checked (``checked``: one sentence saying what is
actually tested). It holds the claim functions themselves, imported, so renaming a module breaks
an import (and a fast test), not a row at run time. ``headline`` names the key of ``measured``
shown in the verdict table (the first number when empty); ``corpus`` marks the language-model
claims, which train on the run's corpus (``circuitlab reproduce --corpus``); ``tutorial`` is the
notebook under ``docs/tutorials/`` that walks the claim step by step (the report links it).

A claim function takes a :class:`~circuitlab.experiments.base.RunContext` and returns a
:class:`~circuitlab.experiments.base.ClaimResult`; :meth:`Claim.run` writes the id and the seed
quote into it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from circuitlab.errors import ConfigError
from circuitlab.experiments.base import ClaimResult, RunContext, timed
from circuitlab.experiments.classic.memory import memory
from circuitlab.experiments.classic.mlp import mlp_digits
from circuitlab.experiments.classic.perceptron import perceptron
from circuitlab.experiments.classic.vae import vae_digits
from circuitlab.experiments.induction.claim import two_layer_induction
from circuitlab.experiments.ngrams.one_layer import one_layer_skip_trigrams
from circuitlab.experiments.ngrams.zero_layer import zero_layer_bigram
from circuitlab.experiments.structure.encoding import layernorm, positional_encoding
from circuitlab.experiments.structure.heads import additive_heads, refactor_ov
from circuitlab.experiments.structure.residual import no_privileged_basis, virtual_weights
from circuitlab.experiments.superposition.dimensionality import feature_dimensionality_claim
from circuitlab.experiments.superposition.pentagon import superposition_pentagon
from circuitlab.experiments.superposition.sae_architectures import sae_architectures
from circuitlab.experiments.superposition.sae_compare import sae_topk_vs_relu
from circuitlab.experiments.superposition.sae_toy import sae_recovers_features
from circuitlab.experiments.superposition.sae_transformer import sae_transformer
from circuitlab.experiments.superposition.sweep import superposition_sweep

Experiment = Callable[[RunContext], ClaimResult]


class BadResult(TypeError):
    """A claim function returned something other than a ClaimResult."""


@dataclass(frozen=True)
class Claim:
    """One claim of the seed, what is checked, and the function that checks it."""

    id: str
    title: str
    section: str
    seed: str
    checked: str
    experiment: Experiment
    headline: str = ""
    corpus: bool = False  # trains on the run's corpus (``RunContext.corpus``, ``reproduce --corpus``)
    tutorial: str = ""  # e.g. "docs/tutorials/01_perceptron_mlp.py"; "" when no tutorial walks it

    def __post_init__(self) -> None:
        if not self.id.isidentifier():
            raise ConfigError(f"claim id {self.id!r} must be an identifier like 'two_layer_induction'")
        if not callable(self.experiment):
            raise ConfigError(
                f"claim {self.id}: experiment {self.experiment!r} must be a function ctx -> ClaimResult"
            )

    def run(self, ctx: RunContext) -> ClaimResult:
        """The claim function's result, with the registry's id, seed quote and the call's wall time
        (``seconds``) written in."""
        with timed() as elapsed:
            result = self.experiment(ctx)
        if not isinstance(result, ClaimResult):
            name = getattr(self.experiment, "__qualname__", repr(self.experiment))
            raise BadResult(f"{name} returned {type(result).__name__}, not a ClaimResult")
        result.id, result.seed, result.seconds = self.id, self.seed, elapsed()
        return result


# fmt: off
CLAIMS: tuple[Claim, ...] = (
    Claim("perceptron", "A perceptron is sigmoid(w·x + b)", "Perceptron",
          "The prediction for input 1 is tensor([0.8176], grad_fn=<MulBackward0>). "
          "The prediction for input 2 is tensor([0.6225], grad_fn=<MulBackward0>).",
          "The seed's neuron (w = [1,0,0,0,0] in float16, b = 0.5) prints 0.8176 for e1 and 0.6225 for "
          "e3, to the 4 decimals PyTorch prints.",
          perceptron, tutorial="docs/tutorials/01_perceptron_mlp.py"),
    Claim("mlp", "A multilayer perceptron learns digits", "Multilayer Perceptron",
          "A multilayer perceptron is the typical ANN. It consists of multiple neurons organized in a layer "
          "and those layers combine sequentially into a network.",
          "An MLP with one sigmoid hidden layer (64 -> 64 -> 10), trained with Adam on scikit-learn's 8x8 "
          "digits, classifies at least 95% of a held-out 25% split correctly.",
          mlp_digits, tutorial="docs/tutorials/01_perceptron_mlp.py"),
    Claim("lstm_memory", "LSTM gates fix the RNN's forgetting", "Long Short Term Memory Network",
          "For any new input, vanilla RNNs would completely modify the hidden state which would lead to "
          "“forgetting”. To prevent this amnesia, LSTM were modified with 3 gates- forget gate, input gate "
          "and output gate.",
          "On marked delayed recall with the same parameter budget and training, the RNN falls to near chance "
          "(at most 2x chance) at some lag, and at every such lag the LSTM still recalls at least 95%.",
          memory, "lags_lstm_holds", tutorial="docs/tutorials/02_rnn_lstm.py"),
    Claim("vae", "A VAE generates from its latent space", "Variational Autoencoders",
          "VAEs are designed to generate new data points by sampling from the learned latent space "
          "distributions, whereas traditional autoencoders primarily focus on reconstructing the input "
          "without a generative aspect.",
          "A VAE trained on the digits cuts its test negative ELBO to at most 0.75x the untrained model's, "
          "and samples from its prior lie closer to real digits than per-pixel-shuffled digits do.",
          vae_digits, tutorial="docs/tutorials/03_vae.py"),
    Claim("positional_encoding", "Sinusoidal positional encoding", "Transformer",
          "Each position in the input sequence is represented using a combination of various sine and "
          "cosine functions where each dimension in a token embedding is represented by unique frequencies.",
          "circuitlab's sinusoidal table equals sin/cos(p / 10000^(2i/d)) to 1e-6, has one distinct "
          "frequency per sin/cos pair, and shifting a position by k rotates each pair by a fixed angle.",
          positional_encoding, tutorial="docs/tutorials/04_transformer_parts.py"),
    Claim("layernorm", "LayerNorm from its formula", "Transformer",
          "For an input vector x, the Layer Normalization is computed as: x̂ᵢ = (xᵢ − μ) / √(σ² + ε)",
          "The formula computed step by step equals torch's layer_norm to 1e-5, and every normalised "
          "vector has mean 0 and variance 1.",
          layernorm, tutorial="docs/tutorials/04_transformer_parts.py"),
    Claim("no_privileged_basis", "The residual stream has no privileged basis", "Residual Stream",
          "Any communication to and from the residual stream only happens in terms of linear operations- "
          "addition or linear map- thus endowing transformers a great deal of linearity. This also has the "
          "consequence that residual stream doesn't have a privileged basis.",
          "Rotating the residual stream of a LayerNorm-free random transformer (writers W R, readers R^T W) "
          "leaves its logits unchanged to 1e-4, while with a non-uniform LayerNorm gain they change by "
          "more than 1e-2.",
          no_privileged_basis, tutorial="docs/tutorials/05_framework.py"),
    Claim("virtual_weights", "Virtual weights connect any two layers", "Virtual Weights",
          "The linearity of the residual stream means that the amount of connection between any two layer "
          "can be quantified as \"virtual weights\" that indicate extent to which the later layer reads the "
          "information written by the previous layer.",
          "In a LayerNorm-free 2-layer random transformer, layer 1's values equal the embedding path plus "
          "each layer-0 head's output through the virtual weight W_O^0 W_V^1, to 1e-4.",
          virtual_weights, tutorial="docs/tutorials/05_framework.py"),
    Claim("superposition_pentagon", "Five sparse features in two dimensions", "Superposition",
          "Due to the dimensionality difference in the residual stream and other model components leading "
          "to bottleneck activations, superposition occurs where each dimension is not a unique "
          "interpretable feature",
          "A toy model storing 5 features in 2 dimensions keeps only the 2 most important, orthogonal, "
          "when features are dense, and all 5 as a regular pentagon (neighbours 72 ± 12° apart, every D_i "
          "within 0.08 of 2/5) at sparsity 0.95.",
          superposition_pentagon, "sparse_represented", tutorial="docs/tutorials/07_superposition.py"),
    Claim("superposition_sweep", "Sparser features, more of them stored", "Superposition",
          "(since important features like \"London\" are sparse) and it instead encodes a mix of features.",
          "A ReLU toy model with 5 hidden dimensions stores 4 to 6 of 20 features when they are dense and "
          "at least 8 when they are sparse, while a linear one never stores more than 5.",
          superposition_sweep, "relu_max", tutorial="docs/tutorials/07_superposition.py"),
    Claim("feature_dimensionality", "Feature dimensionality sticks at fractions", "Superposition",
          "The model thus finds a balance between trying to encode most features and being able to read "
          "them out easily.",
          "At least half of the represented features of toy models trained over a sweep of sparsity have "
          "a dimensionality D_i within 0.02 of 1, 3/4, 2/3, 1/2, 2/5 or 1/3, and at least 1.5x the share "
          "an even spread of D_i would put there.",
          feature_dimensionality_claim, "fraction_near_sticky",
          tutorial="docs/tutorials/07_superposition.py"),
    Claim("sae_recovers_features", "A sparse autoencoder undoes superposition", "Superposition",
          "each dimension is not a unique interpretable feature ... and it instead encodes a mix of features.",
          "A sparse autoencoder trained on the hidden layer of a toy model holding 10 sparse features in "
          "5 dimensions finds their directions: mean best cosine with a decoder direction >= 0.9.",
          sae_recovers_features, tutorial="docs/tutorials/07_superposition.py"),
    Claim("additive_heads", "Attention heads are independent and additive", "Attention Circuits",
          "The attention heads are independent and additive.",
          "In a 2-layer random transformer, the per-head writes z^h W_O^h summed over heads, plus b_O, "
          "equal the fused attention output to 1e-4 in every layer.",
          additive_heads, tutorial="docs/tutorials/05_framework.py"),
    Claim("refactor_ov", "W_OV can be factored any way", "Attention Circuits",
          "Within an attention block, the series of multiplications are actually associative and the order "
          "doesn't really matter. For example, the W_OV can be factorized in any way to get a W_O and a W_V, "
          "same goes for W_QK though OV and QK are very different functions.",
          "Replacing every head's W_V, W_O by W_V M, M⁻¹ W_O and W_Q, W_K by W_Q N, W_K N⁻ᵀ (random "
          "invertible M, N) leaves W_OV, W_QK and the logits unchanged to 1e-4.",
          refactor_ov, tutorial="docs/tutorials/05_framework.py"),
    Claim("zero_layer_bigram", "A zero-layer transformer is a bigram table", "Reverse Engineering",
          "Zero layer Transformers: They emulate bigram statistics.",
          "A 0-layer transformer trained on the Python standard library predicts like the corpus's bigram "
          "table: KL to it below 10% of the unigram's, and the same top next token at >= 60% of positions.",
          zero_layer_bigram, "kl_ratio", corpus=True, tutorial="docs/tutorials/06_reverse_engineering.py"),
    Claim("one_layer_skip_trigrams", "One layer adds skip-trigrams and copying", "Reverse Engineering",
          "One layer Transformers: They emulate bigram + skipgram statistics. There are two main circuits- "
          "QK(which computes relations between tokens) and OV (which computes how each token affects the "
          "output if attended to).",
          "A 1-layer attention-only model has a lower validation loss than the 0-layer one, gaining more on "
          "tokens already in the context than elsewhere; more than half its heads copy (positive OV "
          "eigenvalues), and >= 3 skip-trigrams read off its QK and OV circuits occur in the corpus.",
          one_layer_skip_trigrams, "val_loss_one_layer", corpus=True,
          tutorial="docs/tutorials/06_reverse_engineering.py"),
    Claim("two_layer_induction", "Two layers form induction heads by K-composition", "Reverse Engineering",
          "Two layer Transformers: At this stage, the composition of attention Heads across layers leads to "
          "formation of induction heads which are equivalent to a simple in-context learning algorithms. The "
          "formation of these induction heads lead to a turning point for emergence.",
          "A 2-layer attention-only model trained on plain code grows a layer-1 induction head (prefix-"
          "matching score on the second copy of repeated random tokens >= 0.7) "
          "whose K-composition with the top previous-token head beats random and its Q- and V-composition, "
          "and zero-ablating the induction heads removes >= 80% of the in-context gain.",
          two_layer_induction, "max_induction_score", corpus=True,
          tutorial="docs/tutorials/06_reverse_engineering.py"),
    Claim("sae_transformer", "A sparse autoencoder on the residual stream", "Superposition",
          "The high load on residual stream bandwidth that leads to superposition also leads to the memory "
          "roles of attention & MLP where they read in information and write out the negative version from "
          "the stream.",
          "A sparse autoencoder with 4x latents explains >= 80% of the variance of the 2-layer model's "
          "final residual stream with at most d_model/4 latents active per token.",
          sae_transformer, corpus=True),
    Claim("sae_architectures", "ReLU, TopK and JumpReLU SAEs all undo superposition", "Superposition",
          "each dimension is not a unique interpretable feature ... and it instead encodes a mix of features.",
          "A ReLU+L1, a TopK (k = 1) and a JumpReLU SAE, each trained on the hidden layer of the toy model "
          "holding 10 sparse features in 5 dimensions, find their directions: mean best cosine >= 0.9 each.",
          sae_architectures),
    Claim("sae_topk_vs_relu", "At equal L0, TopK beats ReLU+L1", "Superposition",
          "The high load on residual stream bandwidth that leads to superposition also leads to the memory "
          "roles of attention & MLP where they read in information and write out the negative version from "
          "the stream.",
          "On the 2-layer model's final residual stream, a TopK SAE with k set to the ReLU+L1 SAE's L0 "
          "explains more variance and recovers more of the CE loss when spliced in, on held-out text.",
          sae_topk_vs_relu, "topk_ce_loss_recovered", corpus=True),
)
# fmt: on

#: The claim whose section shows the interactive attention viewer (attention_viewer.json).
VIEWER_CLAIM = "two_layer_induction"


def claim_ids(claims: Sequence[Claim] = CLAIMS) -> list[str]:
    return [c.id for c in claims]


def select(only: Sequence[str] | None = None, claims: Sequence[Claim] = CLAIMS) -> list[Claim]:
    """The claims to run, in registry order; ``only`` names a subset by id."""
    ids = claim_ids(claims)
    if len(set(ids)) != len(ids):
        raise ConfigError(f"claim ids must be unique, got duplicates in {ids}")
    if not only:
        return list(claims)
    unknown = [name for name in only if name not in ids]
    if unknown:
        raise ConfigError(f"unknown claim {', '.join(unknown)}: choose from {', '.join(ids)}")
    return [c for c in claims if c.id in set(only)]


def get(claim_id: str, claims: Sequence[Claim] = CLAIMS) -> Claim:
    """The registered claim ``claim_id`` (ConfigError naming the known ids when there is none)."""
    (claim,) = select([claim_id], claims)
    return claim
