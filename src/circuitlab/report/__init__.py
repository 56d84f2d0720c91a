"""The reproduction report: one self-contained HTML page from a run folder's results.json.

The report takes results, not models: it imports nothing that builds or trains a network.
"""

from circuitlab.report.html import REPORT_NAME, build_html, render_report
from circuitlab.report.viewer import fake_viewer_data, load_viewer, validate_viewer

__all__ = ["REPORT_NAME", "build_html", "fake_viewer_data", "load_viewer", "render_report", "validate_viewer"]
