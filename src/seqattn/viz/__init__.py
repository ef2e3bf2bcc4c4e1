"""Figures: curves, attention maps, reports. Imported by experiments and the CLI, never by nn."""

from seqattn.viz.attention import (
    AttentionView,
    attention_heatmap,
    attention_html,
    attention_image,
    save_attention,
)
from seqattn.viz.curves import plot_panels
from seqattn.viz.report import render_report, write_report
from seqattn.viz.table import Column, Table

__all__ = [
    "plot_panels",
    "AttentionView",
    "attention_heatmap",
    "attention_image",
    "attention_html",
    "save_attention",
    "render_report",
    "write_report",
    "Column",
    "Table",
]
