"""Training films: the latents recorded while training (`--snapshots`, training/snapshots.py) and
their aligned 2-d frames (`export NAME --dynamics`, training/dynamics.py)."""

import json

import pytest
import torch
from safetensors.torch import load_file

from training import dynamics
from training.__main__ import main as train_main
from training.checkpoint import (
    CheckpointError,
    checkpoint_files,
    load_checkpoint,
    read_metadata,
    write_safetensors,
)
from training.data import load_mnist
from training.evaluate import batched
from training.snapshots import due_steps, read_snapshots, snapshots_path

TINY_DENOISER = json.dumps({"widths": [4, 8, 8], "decoder_widths": [4, 8], "head_hidden": 8})
# the autoencoder's smoke run: 512 digits in batches of 64 are 8 steps an epoch, of which a smoke
# epoch takes 4; of the due steps 0-6 and 8 (due_steps(8, 8, 2)) it reaches 1-6, and its two epochs
# end at steps 4 and 8
SMOKE_STEPS = [0, 1, 2, 3, 4, 5, 6, 8]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Runs this small are fastest on one thread; two stall each other on cores that another
    process keeps busy (the denoiser's smoke run took 2 s on one thread, 7 to 41 s on two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def smoke(tmp_path, *flags, model="autoencoder"):
    out = tmp_path / f"{model}.safetensors"
    return train_main([model, "--smoke", "--out", str(out), *flags]), out


@pytest.fixture(scope="module")
def film_run(tmp_path_factory):
    """An autoencoder trained for two smoke epochs with snapshots: (checkpoint, snapshots)."""
    result, out = smoke(tmp_path_factory.mktemp("film"), "--epochs", "2", "--snapshots")
    assert result["finished"]
    return out, read_snapshots(snapshots_path(out))


def test_due_steps_are_log_spaced_in_the_first_epoch_then_every_epoch_end():
    assert due_steps(430, 8, 3) == [0, 1, 2, 5, 10, 21, 44, 94, 202, 430, 860, 1290]
    assert due_steps(430, 0, 2) == [0, 430, 860]  # --snapshots 0: the start and the epoch ends


def test_snapshots_record_the_due_steps_and_end_on_the_checkpoint(film_run):
    out, (t, header) = film_run
    assert t["steps"].tolist() == SMOKE_STEPS
    assert torch.equal(t["epochs"], torch.tensor(SMOKE_STEPS) / 8)
    latents = t["latents"]
    assert latents.dtype == torch.float16 and latents.shape == (len(SMOKE_STEPS), 200, 6)  # smoke: 200 tests
    assert all((a != b).any() for a, b in zip(latents, latents[1:])), "every frame moved"
    model = load_checkpoint(out)
    z = batched(model.encode, load_mnist().test.images[:200], "cpu")
    assert torch.allclose(latents[-1].float(), z, rtol=1e-3, atol=1e-3 * float(z.abs().max()))
    assert header["checkpoint_created"] == read_metadata(out)["created"]
    assert (header["model"], header["points"], header["steps_per_epoch"]) == ("autoencoder", "8", "8")
    assert json.loads(header["val_keys"]) == ["mse"] and t["val.mse"].shape == (len(SMOKE_STEPS),)
    assert header["command"].endswith("--snapshots") and header["commit"] and header["created"]


def test_recording_does_not_change_training(tmp_path):
    # the denoiser draws dropout from the global generator and has BatchNorm: a random number drawn
    # or a statistic updated while recording would change its weights
    flags = ("--config", TINY_DENOISER)
    _, plain = smoke(tmp_path / "plain", *flags, model="denoiser")
    _, filmed = smoke(tmp_path / "filmed", *flags, "--snapshots", "1", model="denoiser")
    a, b = load_file(str(plain)), load_file(str(filmed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # one point inside the epoch: step 1; the smoke epoch ends at step 4, three dropout draws later
    assert read_snapshots(snapshots_path(filmed))[0]["steps"].tolist() == [0, 1, 4]


def test_a_resumed_run_records_what_a_straight_run_does(tmp_path, film_run):
    flags = ("--epochs", "2", "--snapshots")
    first, out = smoke(tmp_path, *flags, "--max-minutes", "0")
    assert not first["finished"]
    t, header = read_snapshots(snapshots_path(out))
    assert t["steps"].tolist() == SMOKE_STEPS[:5] and header["checkpoint_created"] == ""
    second, _ = smoke(tmp_path, *flags, "--resume")
    assert second["finished"]
    resumed, header = read_snapshots(snapshots_path(out))
    straight = film_run[1][0]
    assert resumed.keys() == straight.keys()
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)
    assert header["checkpoint_created"] == read_metadata(out)["created"]


def test_procrustes_recovers_a_rotation_and_a_reflection():
    a = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    a = a - a.mean(0)
    c, s = torch.cos(torch.tensor(0.7)), torch.sin(torch.tensor(0.7))
    rotation = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    for q in (rotation, torch.diag(torch.tensor([1.0, -1.0])) @ rotation):
        assert torch.allclose(dynamics.procrustes(a, a @ q), a @ q, atol=1e-5)


def test_alignment_removes_the_arbitrary_turns_of_per_frame_pca():
    # a 6-d cloud drifting slowly; each frame then turned by a random orthogonal matrix, which
    # changes nothing a linear map should show but flips or turns its per-frame PCA
    g = torch.Generator().manual_seed(0)
    cloud = torch.randn(300, 6, generator=g) * torch.tensor([3.0, 2.0, 1.0, 0.5, 0.3, 0.2])
    drift = torch.randn(300, 6, generator=g) * 0.01
    frames = []
    for t in range(20):
        q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g))
        frames.append((cloud + t * drift) @ q)
    coords, scale, unaligned = dynamics.align(torch.stack(frames))  # (20, 300, 2)
    assert coords.shape == (20, 300, 2) and torch.isfinite(coords).all()
    assert torch.allclose(coords[-1], unaligned[-1])  # the film ends on the last frame's PCA map

    def steady(c):  # no point jumps between consecutive frames
        return float((c[1:] - c[:-1]).norm(dim=-1).mean(1).max()) < 0.05

    assert steady(coords) and not steady(unaligned)
    assert dynamics.motion(coords) < 0.1 * dynamics.motion(unaligned)
    rms = coords.pow(2).sum(-1).mean(1).sqrt()
    assert torch.allclose(rms, torch.ones(20), atol=1e-5) and (scale > 0).all()


def test_a_2d_latent_is_only_centred_and_scaled():
    z = torch.randn(3, 100, 2, generator=torch.Generator().manual_seed(0)) * 4 + torch.tensor([5.0, -2.0])
    coords, scale, _ = dynamics.align(z)
    centred = z - z.mean(1, keepdim=True)
    assert torch.allclose(coords * scale[:, None, None], centred, atol=1e-5)  # not turned
    assert torch.allclose(coords.pow(2).sum(-1).mean(1), torch.ones(3), atol=1e-5)


def test_export_writes_the_film(film_run):
    out, (snaps, _) = film_run
    train_main(["export", "autoencoder", "--dynamics", "--checkpoints", str(out.parent)])
    t, header = dynamics.read_dynamics(dynamics.dynamics_path(out))
    f = len(SMOKE_STEPS)
    assert t["coords"].shape == (f, 200, 2) and t["coords"].dtype == torch.float32
    assert torch.isfinite(t["coords"]).all()
    assert torch.equal(t["steps"], snaps["steps"]) and torch.equal(t["epochs"], snaps["epochs"])
    assert torch.equal(t["loss"], snaps["val.mse"]) and header["loss_name"] == "mse"
    for key in ("scale", "knn5", "trustworthiness"):
        assert t[key].shape == (f,) and t[key].dtype == torch.float32 and torch.isfinite(t[key]).all()
    assert ((t["trustworthiness"] > 0) & (t["trustworthiness"] <= 1)).all()
    assert set(header) == {
        "model",
        "checkpoint",
        "checkpoint_created",
        "snapshots_command",
        "snapshots_created",
        "method",
        "trustworthiness_queries",
        "loss_name",
        "motion",
        "command",
        "commit",
        "created",
        "wall_time_s",
    }
    assert header["method"] == "pca+procrustes" and header["trustworthiness_queries"] == "200"
    assert header["checkpoint_created"] == read_metadata(out)["created"]
    assert set(json.loads(header["motion"])) == {"aligned", "unaligned"}
    assert header["command"] == f"python -m training export autoencoder --dynamics --checkpoints {out.parent}"
    assert checkpoint_files(out.parent) == [out]  # neither the snapshots nor the film is a checkpoint


def test_export_refuses_missing_or_stale_snapshots(tmp_path, film_run):
    out, (snaps, header) = film_run
    ckpt = tmp_path / "autoencoder.safetensors"
    ckpt.write_bytes(out.read_bytes())
    with pytest.raises(SystemExit, match="python -m training autoencoder --snapshots"):
        dynamics.export("autoencoder", ckpt_dir=tmp_path)
    stale = {**header, "checkpoint_created": "2000-01-01T00:00:00+00:00"}  # another run's checkpoint
    write_safetensors(snapshots_path(ckpt), snaps, stale)
    with pytest.raises(SystemExit, match="stale.*python -m training autoencoder --snapshots"):
        dynamics.export("autoencoder", ckpt_dir=tmp_path)
    with pytest.raises(CheckpointError, match="python -m training export autoencoder --dynamics"):
        dynamics.read_dynamics(dynamics.dynamics_path(ckpt))
