"""Property tests of training.distortions on a small hand-made batch of digit-like images."""

import numpy as np
import pytest
import torch

from training import distortions as D
from training.distortions import (
    DISTORTIONS,
    clamp_noise,
    distort,
    distort_mixed,
    fractional_noise,
    remove_rows_cols,
    translate,
)

SEEDS = [0, 1, 7, 1234]
H = W = 28


def make_batch(dtype=torch.float32) -> torch.Tensor:
    """Strokes and blobs with several grey levels (so the multiset of values means something),
    at various positions including the frame edges, plus an empty image."""
    imgs = np.zeros((7, H, W), dtype=np.uint8)
    imgs[0, 8:21, 12:15] = 255  # a vertical stroke in the middle, like a '1'
    imgs[0, 8, 9:15] = 128
    imgs[1, 0:5, 0:4] = [[255, 200, 100, 50]] * 5  # a blob in the top-left corner
    imgs[2, 22:28, 20:28] = 180  # a blob in the bottom-right corner
    imgs[2, 27, 27] = 37
    # imgs[3] stays empty
    imgs[4, 14, :] = 255  # a plus touching all four edges: it cannot move
    imgs[4, :, 5] = 90
    imgs[5, 14, 0] = 255  # a single pixel on the left edge
    imgs[6, 3:6, 2:26] = 64  # a wide bar touching neither edge
    imgs[6, 4, 10] = 3
    return torch.from_numpy(imgs).unsqueeze(1).to(dtype) / 255.0


EMPTY, FRAME_FILLING, EDGE_PIXEL = 3, 4, 5


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Zero-filled integer shift of a (28, 28) image: out[i, j] = img[i - dy, j - dx]."""
    out = torch.zeros_like(img)
    out[max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = img[
        max(-dy, 0) : H - max(dy, 0), max(-dx, 0) : W - max(dx, 0)
    ]
    return out


def ink_top_left(img: torch.Tensor) -> tuple[int, int]:
    rows = torch.nonzero(img.any(1)).flatten()
    cols = torch.nonzero(img.any(0)).flatten()
    return int(rows[0]), int(cols[0])


def find_shift(before: torch.Tensor, after: torch.Tensor) -> tuple[int, int]:
    """The (dy, dx) that maps before to after, asserting that after is exactly that shift."""
    (t0, l0), (t1, l1) = ink_top_left(before), ink_top_left(after)
    dy, dx = t1 - t0, l1 - l0
    assert torch.equal(after, shifted(before, dy, dx)), f"not an integer shift (best guess {dy}, {dx})"
    return dy, dx


FUNCS = {
    "translate": translate,
    "rows_cols": remove_rows_cols,
    "clamp": clamp_noise,
    "fractional": fractional_noise,
}


# --- common properties -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(FUNCS))
def test_shape_dtype_range_and_no_in_place_change(name, seed, dtype):
    x = make_batch(dtype)
    before = x.clone()
    out = FUNCS[name](x, gen(seed))
    assert out.shape == (7, 1, H, W)
    assert out.dtype == dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(x, before), "input modified in place"
    assert out.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("name", list(FUNCS))
def test_same_seed_same_output_different_seed_different_output(name):
    x = make_batch()
    a = FUNCS[name](x, gen(3))
    b = FUNCS[name](x, gen(3))
    c = FUNCS[name](x, gen(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# --- translate -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_translate_is_an_in_frame_integer_shift(seed):
    x = make_batch()
    out = translate(x, gen(seed))
    for b in range(len(x)):
        # no pixel leaves the frame: same sum and the same multiset of values
        assert torch.isclose(out[b].sum(), x[b].sum())
        assert torch.equal(out[b].flatten().sort().values, x[b].flatten().sort().values)
        if b == EMPTY:
            assert torch.equal(out[b], x[b])
        else:
            find_shift(x[b, 0], out[b, 0])
    assert torch.equal(out[FRAME_FILLING], x[FRAME_FILLING]), "an image touching all four edges cannot move"


def test_translate_covers_every_allowed_shift():
    # a single pixel at (14, 0): dy may be -14..13 and dx 0..27, each equally likely
    x = make_batch()[EDGE_PIXEL : EDGE_PIXEL + 1].repeat(2000, 1, 1, 1)
    out = translate(x, gen(0))
    pos = torch.nonzero(out[:, 0] > 0)  # (2000, 3): batch index, row, col
    assert len(pos) == 2000 and torch.equal(pos[:, 0], torch.arange(2000)), "exactly one lit pixel per image"
    dys, dxs = pos[:, 1] - 14, pos[:, 2] - 0
    assert set(dys.tolist()) == set(range(-14, 14))
    assert set(dxs.tolist()) == set(range(0, 28))
    # roughly uniform: every value of 28 gets about 2000 / 28 = 71 draws
    assert torch.bincount(dys + 14).min() > 30 and torch.bincount(dxs).min() > 30


def test_translate_shifts_vary_when_there_is_room_and_not_when_there_is_none():
    x = make_batch()
    shifts = {b: set() for b in (0, 1, 2, 6)}
    g = gen(5)
    for _ in range(30):
        out = translate(x, g)
        for b in shifts:
            shifts[b].add(find_shift(x[b, 0], out[b, 0]))
        assert torch.equal(out[FRAME_FILLING], x[FRAME_FILLING])
        assert not out[EMPTY].any()
    for b, s in shifts.items():
        assert len(s) > 1, f"image {b} never moved to a second position: {s}"


# --- remove_rows_cols ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [0, 1, 14, 28])
def test_remove_rows_cols_zeroes_exactly_n_lines(n, seed):
    x = torch.ones(5, 1, H, W)
    out = remove_rows_cols(x, gen(seed), n)
    for b in range(len(x)):
        zero_rows = (out[b, 0] == 0).all(1)
        zero_cols = (out[b, 0] == 0).all(0)
        assert int(zero_rows.sum()) == n and int(zero_cols.sum()) == n
        # every other pixel is untouched (still 1)
        expected = ((~zero_rows)[:, None] & (~zero_cols)[None, :]).float()
        assert torch.equal(out[b, 0], expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_remove_rows_cols_only_zeroes_pixels(seed):
    x = make_batch()
    out = remove_rows_cols(x, gen(seed))
    assert torch.all((out == x) | (out == 0))


@pytest.mark.parametrize("n", [29, -1])
def test_remove_rows_cols_rejects_bad_n(n):
    with pytest.raises(ValueError):
        remove_rows_cols(make_batch(), gen(0), n)


def test_repeated_draws_remove_at_most_n_lines_and_11_2_on_average():
    """The second reading of "14 rows and 14 columns": 14 draws of each, which may repeat."""
    x = torch.ones(4000, 1, H, W)
    out = remove_rows_cols(x, gen(0), 14, distinct=False)
    zero_rows = (out[:, 0] == 0).all(2).sum(1).float()  # (B,)
    zero_cols = (out[:, 0] == 0).all(1).sum(1).float()
    assert zero_rows.max() <= 14 and zero_cols.max() <= 14 and zero_rows.min() >= 1
    expected = 28 * (1 - (27 / 28) ** 14)  # 11.18 distinct lines of each kind
    assert abs(zero_rows.mean() - expected) < 0.1 and abs(zero_cols.mean() - expected) < 0.1
    assert (zero_rows < 14).float().mean() > 0.9  # a repeat is the rule, not the exception
    # the other pixels are untouched
    keep = (out[:, 0] != 0).any(2)[:, :, None] & (out[:, 0] != 0).any(1)[:, None, :]
    assert torch.equal(out[:, 0], keep.float())


def test_the_protocol_reading_of_removed_lines_is_named_and_checked():
    from training.evaluate import LINES, evaluate_denoiser
    from training.models import build_model

    model = build_model("denoiser").eval()
    images, labels = (torch.rand(20, 28, 28) * 255).to(torch.uint8), torch.zeros(20, dtype=torch.long)
    assert set(LINES) == {"distinct", "repeated"}
    assert "lines" not in evaluate_denoiser(model, images, labels)  # the headline reading
    repeated = evaluate_denoiser(model, images, labels, lines="repeated")
    assert repeated["lines"] == "repeated" and repeated["n_images"] == 20
    with pytest.raises(ValueError, match="distinct, repeated"):
        evaluate_denoiser(model, images, labels, lines="some")


# --- clamp_noise / fractional_noise --------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sigma", [0.5, 3.0])
def test_noise_range(seed, sigma):
    x = make_batch()
    for fn in (clamp_noise, fractional_noise):
        out = fn(x, gen(seed), sigma)
        assert out.min() >= 0 and out.max() <= 1
    assert fractional_noise(x, gen(seed), sigma).max() < 1, "a fractional part is below 1"


def test_sigma_zero():
    x = torch.zeros(1, 1, H, W)
    x[0, 0, :, :4] = torch.tensor([0.0, 0.3, 0.5, 1.0])
    assert torch.equal(clamp_noise(x, gen(0), sigma=0.0), x)
    frac = fractional_noise(x, gen(0), sigma=0.0)
    assert torch.allclose(
        frac[0, 0, :, :4], torch.tensor([0.0, 0.3, 0.5, 0.0]).expand(28, 4)
    )  # frac(1.0) = 0


@pytest.mark.parametrize(
    "noise, fractional_expected, clamp_expected",
    [
        (0.2, [0.1, 0.3, 0.2], [1.0, 0.3, 0.2]),  # 0.9 + 0.2 = 1.1 -> fractional part 0.1
        (-0.2, [0.7, 0.0, 0.0], [0.7, 0.0, 0.0]),  # 0.1 - 0.2 = -0.1 -> 0
    ],
)
def test_noise_arithmetic_with_fixed_noise(monkeypatch, noise, fractional_expected, clamp_expected):
    # replace the normal draw by a constant so that the arithmetic is checkable: sigma * z = noise
    def fixed_randn(shape, generator=None, device=None, dtype=None):
        return torch.full(tuple(shape), noise / 0.5, device=device, dtype=dtype)

    monkeypatch.setattr(D.torch, "randn", fixed_randn)
    x = torch.zeros(1, 1, H, W)
    x[0, 0, 0, :3] = torch.tensor([0.9, 0.1, 0.0])  # the third pixel is background
    frac = fractional_noise(x, gen(0), sigma=0.5)[0, 0, 0, :3]
    clamp = clamp_noise(x, gen(0), sigma=0.5)[0, 0, 0, :3]
    assert torch.allclose(frac, torch.tensor(fractional_expected), atol=1e-6)
    assert torch.allclose(clamp, torch.tensor(clamp_expected), atol=1e-6)


# --- distort / distort_mixed ---------------------------------------------------------------------


def test_distort_unknown_kind_names_the_known_ones():
    with pytest.raises(ValueError) as e:
        distort(make_batch(), "blur", gen(0))
    for kind in DISTORTIONS:
        assert kind in str(e.value)


def test_distort_translate_is_a_copy():
    x = make_batch()
    out = distort(x, "translate", gen(0))
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("seed", SEEDS)
def test_distort_mixed_applies_each_rows_kind(seed):
    x = make_batch()
    non_empty = [b for b in range(len(x)) if b != EMPTY]
    x = torch.cat([x[non_empty]] * 4)  # 24 images, each kind gets every image once
    kinds = torch.arange(4).repeat_interleave(len(non_empty))[torch.randperm(24, generator=gen(seed + 100))]
    names = ("translate", "rows_cols", "clamp", "fractional")
    before = x.clone()
    out = distort_mixed(x, kinds, names, gen(seed))
    assert torch.equal(x, before)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    for b in range(len(x)):
        kind = names[int(kinds[b])]
        if kind == "translate":
            assert torch.equal(out[b], x[b])
        elif kind == "rows_cols":
            assert torch.all((out[b] == x[b]) | (out[b] == 0))
        else:  # noise touches the background too
            assert not torch.equal(out[b], x[b])
            assert (out[b][x[b] == 0] > 0).any()


@pytest.mark.parametrize("bad", [5, -1])
def test_distort_mixed_rejects_out_of_range_kinds(bad):
    x = make_batch()[:2]
    with pytest.raises(ValueError, match="indices"):
        distort_mixed(x, torch.tensor([0, bad]), tuple(DISTORTIONS), gen(0))
