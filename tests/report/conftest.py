"""A synthetic run folder: results.json with figures, tables, a failure and the viewer JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from circuitlab.report.figures import figure_style, save_png
from circuitlab.report.viewer import fake_viewer_data

NASTY = "<script>alert('x')</script> & \"quotes\""


def _plot(path: Path, kind: str) -> None:
    with figure_style() as plt:
        fig, ax = plt.subplots(figsize=(4.2, 2.8))
        x = np.linspace(0, 1, 50)
        if kind == "curve":
            ax.plot(x * 4000, 1 / (1 + np.exp(-(x - 0.5) * 20)), label="induction score")
            ax.set(xlabel="tokens seen", ylabel="score", title="phase change")
            ax.legend()
        else:
            ax.imshow(np.tril(np.random.default_rng(0).random((12, 12))), cmap="Oranges")
            ax.set(title="attention pattern", xlabel="key", ylabel="query")
            ax.grid(False)
        save_png(fig, path)


def synthetic_results() -> dict:
    def claim(cid: str, verdict: str, **extra) -> dict:
        base = {"id": cid, "title": cid.replace("_", " ").capitalize(), "section": "Reverse Engineering",
                "seed": f"The seed's sentence about {cid}.", "checked": f"What {cid} tests, in one sentence.",
                "measured": {}, "threshold": "score >= 0.7",
                "verdict": verdict, "seconds": 1.5, "ran": "a tiny run", "figures": {}, "tables": {},
                "notes": "", "error": None, "profile": "quick", "device": "cpu"}  # fmt: skip
        return {**base, **extra}

    return {
        "profile": "quick",
        "started": "2025-01-01T12:00:00+00:00",
        "finished": "2025-01-01T12:05:00+00:00",
        "machine": {"cpu": "Test CPU", "cpu_count": 2, "python": "3.11", "torch": "2.13.0", "device": "cpu"},
        "claims": [
            claim("perceptron", "pass", section="Perceptron",
                  measured={"prediction_1": 0.8176, "prediction_2": 0.6225, "dtype": "float16"},
                  tables={"Predictions": [["input", "ours", "seed"], ["x1", 0.8176, 0.8176],
                                          ["x2", 0.6225, 0.6225]]}),
            claim("mlp", "fail", section="Multilayer Perceptron", seed=NASTY, notes=NASTY,
                  error="RuntimeError: boom <b>", traceback="Traceback ...\nRuntimeError: boom <b>",
                  ran="not available", threshold=""),
            claim("two_layer_induction", "pass", measured={"max_induction_score": 0.91, "k_composition": [0.3, 0.1]},
                  figures={"Phase change": "figures/phase.png", "Induction head 1.2": "figures/pattern.png"}),
        ],
    }  # fmt: skip


@pytest.fixture(scope="session")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The two PNGs of the synthetic run, drawn once per session."""
    folder = tmp_path_factory.mktemp("figures")
    _plot(folder / "phase.png", "curve")
    _plot(folder / "pattern.png", "pattern")
    return {name: (folder / name).read_bytes() for name in ("phase.png", "pattern.png")}


@pytest.fixture
def run_dir(tmp_path: Path, figures: dict[str, bytes]) -> Path:
    """A run folder with results.json (3 claims, one failed), two figures and the viewer JSON."""
    run = tmp_path / "run"
    (run / "figures").mkdir(parents=True)
    for name, data in figures.items():
        (run / "figures" / name).write_bytes(data)
    (run / "results.json").write_text(json.dumps(synthetic_results(), indent=1))
    (run / "attention_viewer.json").write_text(json.dumps(fake_viewer_data(n_tokens=56)))
    return run


@pytest.fixture
def results_doc() -> dict:
    return synthetic_results()


@pytest.fixture
def nasty() -> str:
    """A string that breaks a page that forgets to escape (it is the failed claim's seed and notes)."""
    return NASTY
