"""judge_calibration: counting random faces a judge accepts, on hand-made embeddings."""

import numpy as np
import pytest
import torch

from guide_pl.faces.evaluator import EmbeddingDescription, EmbeddingJudge
from guide_pl.tools.judge_calibration import against_photo, among_samples, summary_lines


def described(*vectors):
    return [EmbeddingDescription(np.asarray(v, dtype=np.float64)) for v in vectors]


JUDGE = EmbeddingJudge("fixed", torch.nn.Identity(), cosine_threshold=0.5)
SAMPLES = described([1, 0], [0.6, 0.8], [0, 1], [-1, 0])  # cosines to [1, 0]: 1, 0.6, 0, −1


def test_against_photo_counts_what_the_judge_accepts():
    row = against_photo(JUDGE, described([1, 0])[0], SAMPLES)
    assert row["accepted"] == 2 and row["of"] == 4  # cosines 1 and 0.6 reach 0.5
    assert row["max_cosine"] == pytest.approx(1.0) and row["min_distance"] == pytest.approx(0.0)
    assert row["cosine_p99"] == pytest.approx(1.0)  # int(0.99 × 4) = 3: the highest of four


def test_among_samples_counts_accepted_pairs():
    # Pair cosines: (0,1) 0.6 ✓, (0,2) 0, (0,3) −1, (1,2) 0.8 ✓, (1,3) −0.6, (2,3) 0.
    assert among_samples(JUDGE, SAMPLES) == {"pairs": 6, "accept_rate": pytest.approx(2 / 6)}
    assert among_samples(JUDGE, SAMPLES, max_pairs=3) == {"pairs": 3, "accept_rate": pytest.approx(1 / 3)}
    with pytest.raises(ValueError, match="two samples"):
        among_samples(JUDGE, SAMPLES[:1])


def test_summary_line_adds_up_over_photos():
    result = {"random_pairs": {"fixed": {"pairs": 6, "accept_rate": 0.5}},
              "photos": [{"fixed": against_photo(JUDGE, photo, SAMPLES)} for photo in described([1, 0], [0, -1])]}
    (line,) = summary_lines(result)
    # [1, 0] accepts 2 of 4, [0, −1] accepts none (cosines 0, −0.8, −1, 0): 2 of 8.
    assert line.startswith("fixed: random faces accepted as a photo's person 2 of 8 (25.00 %), per photo 0–2 of 4")
    assert "pairs of random faces accepted 50.00 % of 6" in line
