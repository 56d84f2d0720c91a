"""The Mathematical Framework as library calls: factored circuits, composition, head detectors,
attribution through the residual stream, ablation and activation patching."""

from circuitlab.circuits.attribution import (
    ComponentStack,
    LogitAttribution,
    ResidStack,
    accumulated_resid,
    decompose_resid,
    head_results,
    logit_attrs,
    stack_head_results,
)
from circuitlab.circuits.composition import composition_baseline, composition_scores, copying_scores
from circuitlab.circuits.factored_matrix import FactoredMatrix
from circuitlab.circuits.head_detector import detect_head
from circuitlab.circuits.heads import (
    attention_patterns,
    detection_pattern,
    head_scores,
    in_context_learning_score,
    per_token_loss,
    repeated_random_tokens,
)
from circuitlab.circuits.ngrams import (
    BigramFit,
    SkipTrigram,
    bigram_counts,
    bigram_fit,
    count_skip_trigram,
    model_bigram_logprobs,
    skip_trigrams,
)
from circuitlab.circuits.patching import (
    AblationResult,
    PatchingResult,
    ablate_heads,
    head_ablation_hooks,
    patch_activation,
    patch_heads,
    patch_resid,
)
from circuitlab.circuits.phase_change import PhaseChange, find_phase_change
from circuitlab.circuits.qk_ov import (
    full_ov_circuit,
    full_qk_circuit,
    positional_qk_circuit,
    virtual_weights,
)
from circuitlab.circuits.reparametrize import refactor_heads, rotate_residual

__all__ = [
    "refactor_heads",
    "rotate_residual",
    "AblationResult",
    "BigramFit",
    "SkipTrigram",
    "bigram_counts",
    "bigram_fit",
    "count_skip_trigram",
    "model_bigram_logprobs",
    "skip_trigrams",
    "ComponentStack",
    "FactoredMatrix",
    "LogitAttribution",
    "PatchingResult",
    "PhaseChange",
    "ResidStack",
    "ablate_heads",
    "accumulated_resid",
    "attention_patterns",
    "composition_baseline",
    "composition_scores",
    "copying_scores",
    "decompose_resid",
    "detect_head",
    "detection_pattern",
    "find_phase_change",
    "full_ov_circuit",
    "full_qk_circuit",
    "head_ablation_hooks",
    "head_results",
    "head_scores",
    "in_context_learning_score",
    "logit_attrs",
    "patch_activation",
    "patch_heads",
    "patch_resid",
    "per_token_loss",
    "positional_qk_circuit",
    "repeated_random_tokens",
    "stack_head_results",
    "virtual_weights",
]
