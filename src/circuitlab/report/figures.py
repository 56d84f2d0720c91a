"""Figures: matplotlib on the Agg backend (for the report and the claims), PNGs inlined as base64.

Nothing here knows a model: it turns arrays into PNG files and PNG files into ``data:``
URIs, so the report page needs no network and no files beside it.
"""

from __future__ import annotations

import base64
import functools
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cycler import cycler

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: One look for every figure of the project: system fonts, light grid, no top/right spines.
STYLE: dict[str, Any] = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.prop_cycle": cycler(
        color=["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04"]
    ),
}


@functools.cache
def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed, safe in threads and CI).

    The one matplotlib set-up of the project: every figure (report, claims) gets pyplot here.
    The backend is selected once, on the first call; ``matplotlib`` is imported only then.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def figure_style() -> Iterator[Any]:
    """``with figure_style() as plt: ...``: pyplot with the project's style applied."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        yield plt


def save_png(fig: Any, path: str | Path) -> Path:
    """Save ``fig`` as PNG at ``path`` (parents created) and close it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    pyplot().close(fig)
    return out


def png_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) in pixels from the PNG header, or None when the file is not a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def png_data_uri(path: str | Path) -> str:
    """The PNG at ``path`` as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
