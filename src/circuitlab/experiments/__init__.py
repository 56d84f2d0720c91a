"""One module per reproduced claim; each returns a typed ClaimResult with a verdict."""

from circuitlab.experiments.base import ClaimResult, RunContext, verdict

__all__ = ["ClaimResult", "RunContext", "verdict"]
