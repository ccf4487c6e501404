"""Evaluation: torchmetrics metrics, judges by name, the measures, the training curve, and `evaluate`."""

from .judges import JUDGES, build_judge
from .measures import delta_fid_real, fid_pre, identity_report, reinvert, render
from .report import EvaluationObjects, evaluate, summary_table

__all__ = ["JUDGES", "EvaluationObjects", "build_judge", "delta_fid_real", "evaluate", "fid_pre", "identity_report",
           "reinvert", "render", "summary_table"]
