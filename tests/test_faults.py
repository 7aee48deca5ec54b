"""A missing, corrupt or mismatched checkpoint: the app still starts, the tab names the file and
the training command that fixes it, and the endpoints answer with the same message."""

import json
import os
from pathlib import Path

import pytest

from training import checkpoint
from training.checkpoint import save_checkpoint
from training.models import build_model


def start_app(folder: Path, monkeypatch) -> dict:
    """Build the app against a folder of checkpoints; the warning shown in the tab and the answer
    of an endpoint."""
    import gradio as gr

    import app
    from explorer import denoise, runtime

    monkeypatch.setattr(checkpoint, "CHECKPOINT_DIR", folder)
    runtime.model.cache_clear()
    try:
        demo = app.build_demo()
        texts = [c.get("props", {}).get("value") for c in demo.config["components"]]
        warning = next((t for t in texts if isinstance(t, str) and t.startswith("⚠️")), None)
        try:
            denoise.denoise_test_digit(0, "clamp", 14, 0.5, 0)
            error = None
        except gr.Error as e:
            error = str(e)
    finally:
        runtime.model.cache_clear()  # the next test serves the real checkpoint again
    return {"warning": warning, "error": error}


def make(folder: Path, case: str) -> Path:
    path = folder / "denoiser.safetensors"
    if case == "corrupt":
        path.write_bytes(os.urandom(3000))
    elif case == "truncated":
        save_checkpoint(
            build_model("denoiser"), path, {}, command="x", device="cpu", wall_time_s=0, dataset="x"
        )
        path.write_bytes(path.read_bytes()[:5000])
    elif case == "other model":  # a VAE saved under the denoiser's name
        save_checkpoint(build_model("vae2d"), path, {}, command="x", device="cpu", wall_time_s=0, dataset="x")
    elif case == "mismatched":  # the header's config does not fit the tensors
        save_checkpoint(
            build_model("denoiser", {"widths": [8, 16, 32]}),
            path,
            {},
            command="x",
            device="cpu",
            wall_time_s=0,
            dataset="x",
        )
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        meta["config"] = json.dumps({**json.loads(meta["config"]), "widths": [16, 48, 96]})
        save_file(load_file(str(path)), str(path), metadata=meta)
    return path


@pytest.mark.parametrize("case", ["missing", "corrupt", "truncated", "other model", "mismatched"])
def test_app_starts_and_names_file_and_command(tmp_path, monkeypatch, case):
    path = make(tmp_path, case)
    result = start_app(tmp_path, monkeypatch)
    for message in (result["warning"], result["error"]):
        assert message and str(path) in message and "python -m training denoiser" in message, message


def test_good_checkpoint_has_no_warning(monkeypatch):
    from explorer import runtime

    if not runtime.checkpoint_path("denoiser").exists():
        pytest.skip("no denoiser checkpoint")
    result = start_app(checkpoint.CHECKPOINT_DIR, monkeypatch)
    assert result == {"warning": None, "error": None}


@pytest.mark.parametrize(
    "name, recipe, trained, wanted",
    [
        ("denoiser_fashion", {}, "MNIST", "Fashion-MNIST"),  # the MNIST net copied over the Fashion one
        ("denoiser", {"dataset": "fashion"}, "Fashion-MNIST", "MNIST"),  # and the other way round
    ],
)
def test_a_network_of_the_wrong_data_set_is_refused(tmp_path, monkeypatch, name, recipe, trained, wanted):
    """Same architecture, other classes: it would answer, wrongly, so it is refused by name."""
    import gradio as gr

    from explorer import denoise, runtime

    path = tmp_path / f"{name}.safetensors"
    save_checkpoint(
        build_model("denoiser"),
        path,
        {},
        command="x",
        device="cpu",
        wall_time_s=0,
        dataset=trained,
        extra={"recipe": recipe},
    )
    monkeypatch.setattr(checkpoint, "CHECKPOINT_DIR", tmp_path)
    runtime.model.cache_clear()
    try:
        with pytest.raises(gr.Error) as e:
            denoise.denoise_test_digit(0, "clamp", 14, 0.5, 0, name)
    finally:
        runtime.model.cache_clear()
    fix = "python -m training denoiser" + (" --dataset fashion" if name == "denoiser_fashion" else "")
    assert f"{path} was trained on {trained}, not {wanted}. Train it with: {fix}" in str(e.value)
