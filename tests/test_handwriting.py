"""Handwritten digits that are not MNIST (benchmarks/handwriting.py has the sources), uploaded to the
app as picture files: every source is read at least 90 % right. A subset here; the benchmark reads
them all."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import handwriting  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)

STEP = {"optdigits": 12, "bwht": 1}  # 150 of the 1,797 optdigits (every writer), all 60 bwht digits


def test_every_source_renders_labelled_pictures():
    pictures = handwriting.samples("optdigits", 300)
    assert len(pictures) == 6 and {p.size for p, _ in pictures} == {(32, 32)}
    assert all(0 <= label <= 9 for _, label in pictures)
    assert min(p.getextrema()[0] for p, _ in pictures) < 64  # dark ink on a white page
    assert len(handwriting.samples("optdigits")) == 1797


@pytest.mark.parametrize("source", ["optdigits", "bwht"])
def test_handwriting_from_elsewhere_is_read_through_the_upload_path(client, tmp_path, source):
    if source not in handwriting.available():
        pytest.skip(f"{source} is not installed (bwht: Debian's fonts-bwht)")
    acc, misses = handwriting.accuracy(client, handwriting.samples(source, STEP[source]), tmp_path)
    assert acc >= 90, f"{source}: {acc:.1f} % read correctly; misses (index, label, read): {misses[:20]}"
