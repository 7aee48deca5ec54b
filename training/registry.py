"""The model registry: every model file in training/models/ registers a ModelSpec, and everything
else (the training CLI, evaluation, export, the model card, the app's tabs) reads it from here.

A checkpoint's `model` header names a spec. Adding a model is one new file in training/models/
that calls `register(ModelSpec(...))`; `discover()` imports every such file on first use.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# ---- what a model can do: checked with isinstance, never hasattr or the class -------------------


@runtime_checkable
class Encoder(Protocol):
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) in [0, 1] -> latents (B, D)."""


@runtime_checkable
class Decoder(Protocol):
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, D) -> images (B, 1, 28, 28) in [0, 1], from the latent alone."""


@runtime_checkable
class Classifier(Protocol):
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) -> class logits (B, 10)."""


@runtime_checkable
class CodeClassifier(Protocol):
    def classify_code(self, z: torch.Tensor) -> torch.Tensor:
        """Another model's latents (B, D) -> class logits (B, 10)."""


@runtime_checkable
class Variational(Protocol):
    def posterior(self, x: torch.Tensor):
        """Images -> q(z|x) (mean and log-variance): a model with a likelihood bound."""


@runtime_checkable
class NeuronCode(Protocol):
    def neurons(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> the bottleneck's neuron activations (B, n); the argmax is the unsupervised class."""


# ---- specs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """Everything the project knows about one model, beside its module."""

    name: str  # registry name: the checkpoint's `model` header and the CLI's argument
    module: type[nn.Module]  # built as module(config_class(**config))
    config_class: type
    recipe: Any  # the default training recipe (a dataclass with a `run(...)` training method)
    evaluate: Callable[..., dict]  # (model, split, options) -> test metrics; see training.evaluate
    summary: str = ""  # one line for the CLI's help and the docs
    datasets: tuple[str, ...] = ("mnist",)  # keys of training.data.DATASETS it can be trained on
    # where the app shows it: "denoise", "vae", "neurons" (a tab), with a label per data set it is
    # offered for; `explore`: the latent explorer maps its latents
    tab: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    explore: bool = False
    card: str | None = None  # section of the model card (training.model_card.SECTIONS)

    def build(self, config: dict | None = None) -> nn.Module:
        return self.module(self.config_class(**(config or {})))


_SPECS: dict[str, ModelSpec] = {}
_discovered = False


def register(spec: ModelSpec) -> ModelSpec:
    """Add a spec (a model file calls this at import time); a second spec of the same name replaces
    the first only when it comes from the same module (re-imports), else it is refused."""
    old = _SPECS.get(spec.name)
    if old is not None and old.module.__qualname__ != spec.module.__qualname__:
        raise ValueError(f"model {spec.name!r} is registered twice ({old.module} and {spec.module})")
    _SPECS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a spec (tests that register a model of their own)."""
    _SPECS.pop(name, None)


@cache
def _model_modules() -> list[str]:
    """The modules of training/models/, by file name (listed once: the tabs ask for the specs on
    every request)."""
    from . import models

    return [f"{models.__name__}.{info.name}" for info in pkgutil.iter_modules(models.__path__)]


def discover() -> None:
    """Import every module of training/models/, each of which registers its spec."""
    global _discovered
    if not _discovered:
        _discovered = True
        for name in _model_modules():
            importlib.import_module(name)


def specs() -> list[ModelSpec]:
    """Every registered spec, by file name, then in the order its file registers them (so the tabs'
    lists do not depend on which model file happened to be imported first); specs registered from
    elsewhere (a test) come last."""
    discover()
    rank = {name: i for i, name in enumerate(_model_modules())}
    order = list(_SPECS)
    return sorted(
        _SPECS.values(), key=lambda s: (rank.get(s.module.__module__, len(rank)), order.index(s.name))
    )


def names() -> list[str]:
    return [s.name for s in specs()]


def get(name: str) -> ModelSpec:
    discover()
    if name not in _SPECS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_SPECS))}")
    return _SPECS[name]


def shown_in(tab: str) -> list[ModelSpec]:
    """The specs a tab offers, in registration order."""
    return [s for s in specs() if s.tab == tab]


def explored() -> list[str]:
    """The models whose latents the explorer maps."""
    return [s.name for s in specs() if s.explore]


# ---- building and serving ----------------------------------------------------------------------


def build_model(name: str, config: dict | None = None) -> nn.Module:
    """Build a registered model from a plain dict of config fields (unknown fields raise)."""
    return get(name).build(config)


def config_json(model: nn.Module) -> str:
    return json.dumps(dataclasses.asdict(model.config), sort_keys=True)


def model_name(model: nn.Module) -> str:
    for spec in specs():
        if type(model) is spec.module and type(model.config) is spec.config_class:
            return spec.name
    raise KeyError(f"{type(model).__name__} is not a registered model")


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of an eval-mode model in which every Conv2d directly followed by a BatchNorm2d (in a
    Sequential) absorbs it: the same function up to float rounding, one layer call fewer per pair.
    For serving only; the copy cannot be trained."""
    model = copy.deepcopy(model).eval()
    for seq in model.modules():
        if isinstance(seq, nn.Sequential):
            for i in range(len(seq) - 1):
                if type(seq[i]) is nn.Conv2d and type(seq[i + 1]) is nn.BatchNorm2d:
                    seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                    seq[i + 1] = nn.Identity()
    return model


def for_serving(model: nn.Module) -> nn.Module:
    """The copy the app serves: BatchNorm folded (fold_batchnorm) and the convolutions' weights in
    channels_last, the layout oneDNN's CPU convolutions run fastest in (`benchmarks/throughput.py`
    compares both layouts). Inputs can stay in the default layout; outputs are the same up to float
    rounding. The copy cannot be trained."""
    return fold_batchnorm(model).to(memory_format=torch.channels_last)
