"""Safetensors checkpoints: exact round trip of every registered model, the header, and failures
that must surface as CheckpointError naming the file."""

import json
import struct
from datetime import datetime

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from training import registry
from training.checkpoint import (
    REQUIRED_KEYS,
    CheckpointError,
    git_commit,
    load_checkpoint,
    read_metadata,
    rewrite_metrics,
    run_summary,
    save_checkpoint,
    stages,
)
from training.models import build_model, config_json

MODELS = registry.names()

METRICS = {
    "acc_clean": 98.25,
    "acc_noisy": 91.0,
    "psnr_recon_clamp": 21.37,
    "n_images": 10000,
    "nested": {"a": [1, 2.5]},
}


def save(model, path):
    return save_checkpoint(
        model,
        path,
        METRICS,
        command="python -m training denoiser --smoke",
        device="cpu (test)",
        wall_time_s=12.34,
        dataset="MNIST (test)",
    )


def images(seed=0):
    return torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip(tmp_path, name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    path = save(model, tmp_path / "sub" / f"{name}.safetensors")  # the folder is created
    assert path.is_file()
    assert not list(tmp_path.rglob("*.tmp")), "the temporary file is renamed into place"

    loaded = load_checkpoint(path)
    assert type(loaded) is type(model)
    assert not loaded.training, "loaded model must be in eval mode"
    sd, sd2 = model.state_dict(), loaded.state_dict()
    assert sd.keys() == sd2.keys()
    for k in sd:
        assert torch.equal(sd[k], sd2[k]), k

    x = images()
    with torch.no_grad():
        torch.manual_seed(0)  # the same draws for models that sample (the VAEs)
        a = model(x)
        torch.manual_seed(0)
        b = loaded(x)
    assert a._fields == b._fields
    for field in a._fields:
        assert torch.equal(getattr(a, field), getattr(b, field)), field


@pytest.mark.parametrize("name", sorted(MODELS))
def test_header(tmp_path, name):
    model = build_model(name).eval()
    path = save(model, tmp_path / "m.safetensors")
    meta = read_metadata(path)
    for key in (
        "model",
        "config",
        "metrics",
        "command",
        "commit",
        "device",
        "wall_time_s",
        "dataset",
        "created",
    ):
        assert key in meta and isinstance(meta[key], str), key
    assert meta["model"] == name
    assert meta["config"] == config_json(model)
    assert json.loads(meta["metrics"]) == METRICS
    assert meta["command"] == "python -m training denoiser --smoke"
    assert meta["device"] == "cpu (test)" and meta["dataset"] == "MNIST (test)"
    assert float(meta["wall_time_s"]) == pytest.approx(12.3)
    assert meta["commit"]
    assert datetime.fromisoformat(meta["created"]).tzinfo is not None


def test_commit_named_by_the_environment(monkeypatch):
    # a training machine that got a copy of the tree: its .git (if any) is not what ran
    monkeypatch.setenv("GIT_COMMIT", "0123abc")
    assert git_commit() == "0123abc"
    monkeypatch.delenv("GIT_COMMIT")
    assert git_commit() != "0123abc"


def test_rewrite_metrics_keeps_weights_and_the_old_figures(tmp_path):
    torch.manual_seed(0)
    model = build_model("denoiser").eval()
    path = save(model, tmp_path / "m.safetensors")
    before = read_metadata(path)
    rewrite_metrics(
        path, {"acc_noisy": 92.5, "n_images": 10000}, "python -m training.evaluate m.safetensors --write"
    )
    after = read_metadata(path)
    assert json.loads(after["metrics"]) == {**METRICS, "acc_noisy": 92.5}
    assert after["metrics_at_training"] == before["metrics"]
    assert after["rescored_by"] == "python -m training.evaluate m.safetensors --write"
    changed = ("metrics", "metrics_at_training", "rescored_by")
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed
    }
    loaded = load_checkpoint(path).state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items())
    # a second re-scoring keeps the training run's figures, not the first re-scoring's
    rewrite_metrics(path, {"acc_noisy": 93.0}, "again")
    assert read_metadata(path)["metrics_at_training"] == before["metrics"]


# --- failures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def denoiser_file(tmp_path_factory):
    torch.manual_seed(1)
    model = build_model("denoiser").eval()
    return save(model, tmp_path_factory.mktemp("ck") / "denoiser.safetensors"), model


def assert_fails_naming(path):
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value)
    return e.value


def test_missing_file(tmp_path):
    assert_fails_naming(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError):
        read_metadata(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("cut", ["half", "minus_one_byte", "header_only", "empty"])
def test_truncated_file(tmp_path, denoiser_file, cut):
    raw = denoiser_file[0].read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    end = {"half": len(raw) // 2, "minus_one_byte": len(raw) - 1, "header_only": 8 + header_len, "empty": 0}[
        cut
    ]
    path = tmp_path / "cut.safetensors"
    path.write_bytes(raw[:end])
    assert_fails_naming(path)


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        struct.pack("<Q", 10) + b"0123456789",  # a plausible header length followed by junk
        struct.pack("<Q", 2) + b"{}",  # a valid but empty safetensors file: no model/config header
    ],
    ids=["random", "junk_header", "no_metadata"],
)
def test_not_a_checkpoint(tmp_path, data):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    assert_fails_naming(path)


def with_header(path, denoiser_file, drop=(), **changes):
    """The denoiser's weights saved to path under its own header with some fields changed and the
    fields in `drop` left out."""
    src, model = denoiser_file
    meta = {k: v for k, v in {**read_metadata(src), **changes}.items() if k not in drop}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)
    return path


@pytest.mark.parametrize("field", REQUIRED_KEYS)
def test_header_without_a_field(tmp_path, denoiser_file, field):
    err = assert_fails_naming(with_header(tmp_path / "partial.safetensors", denoiser_file, drop={field}))
    assert field in str(err)


def test_header_names_the_other_model(tmp_path, denoiser_file):
    # the denoiser's weights under a header claiming the reference network: strict loading refuses
    path = with_header(tmp_path / "mismatch.safetensors", denoiser_file, model="denoiser_ref", config="{}")
    err = assert_fails_naming(path)
    assert "denoiser_ref" in str(err)


def test_header_names_the_other_model_with_its_own_config(tmp_path, denoiser_file):
    # only `model` changed: the denoiser's config fields do not exist in the reference's config
    assert_fails_naming(with_header(tmp_path / "mismatch2.safetensors", denoiser_file, model="denoiser_ref"))


@pytest.mark.parametrize(
    "config",
    [
        lambda c: {**c, "no_such_field": 3},  # unknown field
        lambda c: "not json {",
        lambda c: {**c, "widths": [16, 32]},  # the model cannot be built from it
    ],
    ids=["unknown_field", "invalid_json", "bad_widths"],
)
def test_bad_config_in_header(tmp_path, denoiser_file, config):
    new = config(json.loads(read_metadata(denoiser_file[0])["config"]))
    new = new if isinstance(new, str) else json.dumps(new)
    assert_fails_naming(with_header(tmp_path / "badconfig.safetensors", denoiser_file, config=new))


def test_unknown_model_name_in_header(tmp_path, denoiser_file):
    assert_fails_naming(with_header(tmp_path / "unknown.safetensors", denoiser_file, model="resnet9000"))


def test_a_chain_of_warm_starts_keeps_every_stage():
    """--init from a checkpoint that was itself warm-started: the card counts all three runs."""
    from training.model_card import totals

    def header(command, samples, minutes, parent=None):
        meta = {
            "command": command,
            "commit": "c" * 40,
            "device": "cpu",
            "wall_time_s": str(60.0 * minutes),
            "metrics": json.dumps({"train_samples": samples}),
            "config": "{}",
        }
        if parent is not None:
            meta["parent"] = json.dumps(run_summary(parent))
        return meta

    first = header("first", 100, 1)
    second = header("second", 20, 2, parent=first)
    third = header("third", 3, 3, parent=second)
    assert [r["command"] for r in stages(third)] == ["first", "second", "third"]
    assert totals(third) == ("123", "cpu", "1 + 2 + 3 min")
    assert "parent" not in run_summary(first)  # a run without a parent summarises as before


@pytest.mark.parametrize(
    "model, dataset, stem",
    [
        ("denoiser", "mnist", "denoiser"),
        ("denoiser", "fashion", "denoiser_fashion"),
        ("denoiser_ref", "fashion", "denoiser_ref_fashion"),
        ("vae2d", "mnist", "vae2d"),
    ],
)
def test_checkpoint_names_carry_the_data_set(model, dataset, stem):
    from training.checkpoint import checkpoint_stem, parse_stem

    assert checkpoint_stem(model, dataset) == stem
    assert parse_stem(stem) == (model, dataset)
