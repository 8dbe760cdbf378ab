"""Self-contained HTML report of one run directory."""

from syneg.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
