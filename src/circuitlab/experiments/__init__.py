"""The seed's claims, checked: one package per claim family (``classic``, ``structure``, ``ngrams``,
``induction``, ``superposition``), the registry that names them (``registry``), the runner behind
``circuitlab reproduce`` (``run``) and what they share (``base``)."""

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext, verdict

__all__ = ["ClaimResult", "Judgement", "RunContext", "verdict"]
