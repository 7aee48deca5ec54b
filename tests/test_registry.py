"""Adding a model is one new file: a model registered inside this test (module, config and spec, as a
file in training/models/ would hold them) is trained with --smoke, evaluated, exported to a map and
offered by the explorer, without any other file knowing its name."""

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import pytest
import torch
from torch import nn

from training import checkpoint, evaluate, export, registry
from training.__main__ import main as train_main
from training.checkpoint import load_checkpoint, read_metadata
from training.evaluate import reconstruction_metrics
from training.recipes.recon import ReconRecipe


@dataclass
class TinyConfig:
    latent_dim: int = 3


class TinyOutput(NamedTuple):
    recon: torch.Tensor  # (B, 1, 28, 28)
    code: torch.Tensor  # (B, latent_dim)


class TinyAE(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, config.latent_dim))
        self.decoder = nn.Sequential(nn.Linear(config.latent_dim, 784), nn.Unflatten(1, (1, 28, 28)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> TinyOutput:
        code = self.encode(x)
        return TinyOutput(self.decode(code), code)


SPEC = registry.ModelSpec(
    name="tiny_ae",
    module=TinyAE,
    config_class=TinyConfig,
    recipe=ReconRecipe(epochs=1, batch_size=64, lr=1e-3, optimizer="adam"),
    evaluate=reconstruction_metrics,
    summary="a linear autoencoder with a 3-d code, for the registry's test",
    explore=True,
)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """The tiny model registered, and a checkpoints folder of its own."""
    monkeypatch.setattr(checkpoint, "CHECKPOINT_DIR", tmp_path)
    registry.register(SPEC)
    yield tmp_path
    registry.unregister(SPEC.name)


def test_a_model_registered_in_one_place_is_trained_evaluated_exported_and_offered(tiny, capsys):
    assert "tiny_ae" in registry.names() and "tiny_ae" in registry.explored()
    with pytest.raises(SystemExit):
        train_main(["--help"])
    assert "tiny_ae" in capsys.readouterr().out  # the CLI lists it

    result = train_main(["tiny_ae", "--smoke"])  # default path: the checkpoints folder
    path = tiny / "tiny_ae.safetensors"
    assert result["finished"] and path.exists()
    meta = read_metadata(path)
    assert meta["model"] == "tiny_ae" and meta["command"] == "python -m training tiny_ae --smoke"
    assert isinstance(load_checkpoint(path), TinyAE)

    metrics = evaluate.main([str(path), "--limit", "300"])
    assert metrics["model"] == "tiny_ae" and 0 < metrics["mse"] < 0.5 and metrics["latent_dim"] == 3

    export.main(["--limit", "300", "--projections", "pca", "--dims", "2"])  # every explored model there is
    tensors, header = export.read_map(export.map_path(path))
    assert header["model"] == "tiny_ae" and tensors["latents"].shape == (300, 3)
    assert tensors["pca_2d"].shape == (300, 2) and torch.isfinite(tensors["pca_2d"]).all()

    from explorer import latents

    assert latents.available() == ["tiny_ae"]  # the only checkpoint in this folder
    m = latents.load_map("tiny_ae")
    assert m.latents.shape == (300, 3) and "pca_2d" in m.coords


def test_an_unknown_model_is_refused_with_the_known_ones():
    with pytest.raises(KeyError) as e:
        registry.get("nope")
    assert all(name in str(e.value) for name in registry.names())


def test_a_second_model_under_a_taken_name_is_refused():
    taken = registry.specs()[0]
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(dataclasses.replace(SPEC, name=taken.name))
    assert registry.get(taken.name) is taken
