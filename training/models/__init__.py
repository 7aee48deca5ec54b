"""Model registry: a checkpoint's `model` header names one of these."""

import copy
import dataclasses
import json

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .autoencoder import Autoencoder, AutoencoderConfig
from .cluster_ae import ClusterAE, ClusterAEConfig
from .denoiser import Denoiser, DenoiserConfig
from .denoiser_ref import DenoiserRef, DenoiserRefConfig
from .latent_classifier import LatentClassifier, LatentClassifierConfig
from .neuron_ae import NeuronAE, NeuronAEConfig
from .vae import VAE, VAE2D, VAE2DConfig, VAEConfig

MODELS: dict[str, type[nn.Module]] = {
    "denoiser": Denoiser,
    "denoiser_ref": DenoiserRef,
    "vae": VAE,
    "vae2d": VAE2D,
    "neuron_ae": NeuronAE,
    "cluster_ae": ClusterAE,
    "autoencoder": Autoencoder,
    "latent_classifier": LatentClassifier,
}


def model_class(name: str) -> type[nn.Module]:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def build_model(name: str, config: dict | None = None) -> nn.Module:
    """Build a registered model from a plain dict of config fields (unknown fields raise)."""
    cls = model_class(name)
    return cls(cls.config_class(**(config or {})))


def config_json(model: nn.Module) -> str:
    return json.dumps(dataclasses.asdict(model.config), sort_keys=True)


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


def model_name(model: nn.Module) -> str:
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise KeyError(f"{type(model).__name__} is not a registered model")


__all__ = [
    "MODELS",
    "Autoencoder",
    "AutoencoderConfig",
    "ClusterAE",
    "ClusterAEConfig",
    "Denoiser",
    "DenoiserConfig",
    "DenoiserRef",
    "DenoiserRefConfig",
    "LatentClassifier",
    "LatentClassifierConfig",
    "NeuronAE",
    "NeuronAEConfig",
    "VAE",
    "VAE2D",
    "VAE2DConfig",
    "VAEConfig",
    "build_model",
    "config_json",
    "fold_batchnorm",
    "for_serving",
    "model_class",
    "model_name",
]
