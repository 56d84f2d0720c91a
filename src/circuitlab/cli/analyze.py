"""`circuitlab analyze MODEL`: survey any transformer and write a self-contained HTML report.

MODEL is a circuitlab checkpoint folder (``cl.save``, ``circuitlab train``), a TransformerLens
export (``circuitlab export --to transformer-lens``), a Hugging Face model folder, or a hub name
in the local Hugging Face cache. The survey is ``circuitlab.circuits.analysis.analyze``; the page
is ``circuitlab.report.analysis_page``. Writes OUT/analysis.json and OUT/report.html.

``circuitlab analyze --sae DIR [MODEL]`` writes an SAE's feature dashboards instead (analyze_sae.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from circuitlab.cli.analyze_sae import add_sae_arguments, run_sae
from circuitlab.errors import ConfigError

HELP = "analyse any transformer (checkpoint, TransformerLens export, Hugging Face folder or name)"
STEPS = ("head scores", "composition", "attention on the prompt", "logit lens and attribution",
         "induction-head ablation", "report")  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("analyze", help=HELP, description=HELP.capitalize() + ".")
    p.add_argument(
        "model",
        metavar="MODEL",
        nargs="?",
        help="checkpoint folder, TransformerLens export, HF folder or name",
    )
    p.add_argument(
        "--prompt", default=None, metavar="TEXT", help="text to analyse (token ids without a tokenizer)"
    )
    p.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="output folder (default analysis-<name>)"
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--n-ctx", type=int, default=None, help="context to build a Hugging Face model with")
    add_sae_arguments(p)  # circuitlab analyze --sae DIR [MODEL]: SAE feature dashboards (analyze_sae.py)
    p.set_defaults(func=run)


def kind_of(path: Path) -> str:
    """What MODEL is: a "circuitlab", "transformer_lens" or "huggingface" folder, or a "hub" name."""
    if not path.is_dir():
        return "hub"
    if (path / "checkpoint.json").is_file():
        return "circuitlab"
    config = path / "config.json"
    if config.is_file():
        try:
            keys = json.loads(config.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            keys = {}
        if (
            isinstance(keys, dict)
            and "d_model" in keys
            and "n_layers" in keys
            and "architectures" not in keys
        ):
            return "transformer_lens"
    return "huggingface"


def load_model(spec: str, device: str, n_ctx: int | None):
    """The circuitlab Transformer that MODEL names (see the module docstring)."""
    import circuitlab as cl

    kind = kind_of(Path(spec).expanduser())
    if kind == "circuitlab":
        model = cl.load(spec, device=device)
        if not isinstance(model, cl.Transformer):
            raise ConfigError(f"{spec} holds a {type(model).__name__}; analyze takes a transformer")
        return model
    if kind == "transformer_lens":
        from circuitlab.interop import from_transformer_lens, load_transformer_lens

        return from_transformer_lens(load_transformer_lens(spec, device=device))
    return cl.from_pretrained(spec, device=device, n_ctx=n_ctx)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from circuitlab.circuits.analysis import analyze, prompt_tokens
    from circuitlab.cli.common import check_device, check_out_dir
    from circuitlab.files import atomic_write_json
    from circuitlab.report.analysis_page import render_analysis

    if args.sae:
        return run_sae(args)
    if args.model is None:
        raise ConfigError("circuitlab analyze needs MODEL (or --sae DIR for SAE feature dashboards)")
    name = Path(args.model).name or args.model
    out = check_out_dir(args.out or Path(f"analysis-{name.replace('/', '-')}"))
    model = load_model(args.model, check_device(args.device), args.n_ctx)  # bad input fails before the bar
    prompt_tokens(model, args.prompt)
    with tqdm(total=len(STEPS), desc="analyze", unit="step", leave=False) as bar:

        def step(what: str) -> None:  # a stage begins: the one before it is done
            bar.update(0 if bar.postfix is None else 1)
            bar.set_postfix_str(what)

        doc = analyze(model, prompt=args.prompt, progress=step)
        atomic_write_json(out / "analysis.json", doc)
        step("report")
        page = render_analysis(doc, out / "report.html", name=str(args.model))
        bar.update()
    print(f"report: {page}")
    return 0
