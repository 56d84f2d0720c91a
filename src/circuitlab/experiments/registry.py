"""The claims `circuitlab reproduce` checks: one entry per claim, in the seed's order.

Each entry names the claim (``id``), quotes the seed document (``seed``: its own words,
its maths written in Unicode), says which part of the seed it belongs to (``section``),
and points at the experiment that checks it with a dotted path ``"module:function"``.
The path is resolved only when the claim runs, so a module that is missing or broken
turns into a failed "not available" row, never an import error for the whole job.

To wire an experiment in, edit its ``target`` below. The function takes a
:class:`~circuitlab.experiments.base.RunContext` and returns a
:class:`~circuitlab.experiments.base.ClaimResult`. ``headline`` names the key of
``measured`` shown in the verdict table (the first number when empty).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from circuitlab.errors import ConfigError
from circuitlab.experiments.base import ClaimResult, RunContext

Experiment = Callable[[RunContext], ClaimResult]


@dataclass(frozen=True)
class Claim:
    """One claim of the seed and the experiment that checks it."""

    id: str
    title: str
    section: str
    seed: str
    target: str | Experiment
    headline: str = ""

    def __post_init__(self) -> None:
        if not self.id.isidentifier():
            raise ConfigError(f"claim id {self.id!r} must be an identifier like 'two_layer_induction'")
        if isinstance(self.target, str) and self.target.count(":") != 1:
            raise ConfigError(f"claim {self.id}: target {self.target!r} must be 'package.module:function'")


def C(id: str, title: str, section: str, seed: str, target: str, headline: str = "") -> Claim:
    return Claim(id, title, section, seed, target, headline)


# fmt: off
CLAIMS: tuple[Claim, ...] = (
    C("perceptron", "A perceptron is sigmoid(w·x + b)", "Perceptron",
      "The prediction for input 1 is tensor([0.8176], grad_fn=<MulBackward0>). "
      "The prediction for input 2 is tensor([0.6225], grad_fn=<MulBackward0>).",
      "circuitlab.experiments.classic:perceptron"),
    C("mlp", "A multilayer perceptron learns digits", "Multilayer Perceptron",
      "A multilayer perceptron is the typical ANN. It consists of multiple neurons organized in a layer "
      "and those layers combine sequentially into a network.",
      "circuitlab.experiments.classic:mlp_digits"),
    C("lstm_memory", "LSTM gates fix the RNN's forgetting", "Long Short Term Memory Network",
      "For any new input, vanilla RNNs would completely modify the hidden state which would lead to "
      "“forgetting”. To prevent this amnesia, LSTM were modified with 3 gates- forget gate, input gate "
      "and output gate.",
      "circuitlab.experiments.classic_memory:memory", "lags_lstm_holds"),
    C("vae", "A VAE generates from its latent space", "Variational Autoencoders",
      "VAEs are designed to generate new data points by sampling from the learned latent space "
      "distributions, whereas traditional autoencoders primarily focus on reconstructing the input "
      "without a generative aspect.",
      "circuitlab.experiments.classic_vae:vae_digits"),
    C("positional_encoding", "Sinusoidal positional encoding", "Transformer",
      "Each position in the input sequence is represented using a combination of various sine and "
      "cosine functions where each dimension in a token embedding is represented by unique frequencies.",
      "circuitlab.experiments.structure:positional_encoding"),
    C("layernorm", "LayerNorm from its formula", "Transformer",
      "For an input vector x, the Layer Normalization is computed as: x̂ᵢ = (xᵢ − μ) / √(σ² + ε)",
      "circuitlab.experiments.structure:layernorm"),
    C("no_privileged_basis", "The residual stream has no privileged basis", "Residual Stream",
      "Any communication to and from the residual stream only happens in terms of linear operations- "
      "addition or linear map- thus endowing transformers a great deal of linearity. This also has the "
      "consequence that residual stream doesn't have a privileged basis.",
      "circuitlab.experiments.structure:no_privileged_basis"),
    C("virtual_weights", "Virtual weights connect any two layers", "Virtual Weights",
      "The linearity of the residual stream means that the amount of connection between any two layer "
      "can be quantified as \"virtual weights\" that indicate extent to which the later layer reads the "
      "information written by the previous layer.",
      "circuitlab.experiments.structure:virtual_weights"),
    C("superposition_pentagon", "Five sparse features in two dimensions", "Superposition",
      "Due to the dimensionality difference in the residual stream and other model components leading "
      "to bottleneck activations, superposition occurs where each dimension is not a unique "
      "interpretable feature",
      "circuitlab.experiments.superposition:superposition_pentagon", "sparse_represented"),
    C("superposition_sweep", "Sparser features, more of them stored", "Superposition",
      "(since important features like \"London\" are sparse) and it instead encodes a mix of features.",
      "circuitlab.experiments.superposition:superposition_sweep", "relu_max"),
    C("feature_dimensionality", "Feature dimensionality sticks at fractions", "Superposition",
      "The model thus finds a balance between trying to encode most features and being able to read "
      "them out easily.",
      "circuitlab.experiments.superposition:feature_dimensionality_claim", "fraction_near_sticky"),
    C("sae_recovers_features", "A sparse autoencoder undoes superposition", "Superposition",
      "each dimension is not a unique interpretable feature ... and it instead encodes a mix of features.",
      "circuitlab.experiments.superposition:sae_recovers_features"),
    C("additive_heads", "Attention heads are independent and additive", "Attention Circuits",
      "The attention heads are independent and additive.",
      "circuitlab.experiments.structure:additive_heads"),
    C("refactor_ov", "W_OV can be factored any way", "Attention Circuits",
      "Within an attention block, the series of multiplications are actually associative and the order "
      "doesn't really matter. For example, the W_OV can be factorized in any way to get a W_O and a W_V, "
      "same goes for W_QK though OV and QK are very different functions.",
      "circuitlab.experiments.structure:refactor_ov"),
    C("zero_layer_bigram", "A zero-layer transformer is a bigram table", "Reverse Engineering",
      "Zero layer Transformers: They emulate bigram statistics.",
      "circuitlab.experiments.ngram_claims:zero_layer_bigram", "kl_ratio"),
    C("one_layer_skip_trigrams", "One layer adds skip-trigrams and copying", "Reverse Engineering",
      "One layer Transformers: They emulate bigram + skipgram statistics. There are two main circuits- "
      "QK(which computes relations between tokens) and OV (which computes how each token affects the "
      "output if attended to).",
      "circuitlab.experiments.ngram_claims:one_layer_skip_trigrams", "val_loss_one_layer"),
    C("two_layer_induction", "Two layers form induction heads by K-composition", "Reverse Engineering",
      "Two layer Transformers: At this stage, the composition of attention Heads across layers leads to "
      "formation of induction heads which are equivalent to a simple in-context learning algorithms. The "
      "formation of these induction heads lead to a turning point for emergence.",
      "circuitlab.experiments.induction:two_layer_induction", "max_induction_score"),
    C("sae_transformer", "A sparse autoencoder on the residual stream", "Superposition",
      "The high load on residual stream bandwidth that leads to superposition also leads to the memory "
      "roles of attention & MLP where they read in information and write out the negative version from "
      "the stream.",
      "circuitlab.experiments.sae_transformer:sae_transformer"),
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


class NotAvailable(Exception):
    """The experiment of a claim cannot be found (module or function missing)."""


def resolve(claim: Claim) -> Experiment:
    """The experiment function of ``claim``, imported now; NotAvailable when it does not exist."""
    if callable(claim.target):
        return claim.target
    module_name, func_name = claim.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and module_name.startswith(err.name):
            raise NotAvailable(f"experiment module {module_name} does not exist yet") from err
        raise
    func = getattr(module, func_name, None)
    if not callable(func):
        raise NotAvailable(f"experiment {claim.target} does not exist: {module_name} has no {func_name}()")
    return func
