"""Model registry: a checkpoint's `model` header names one of these."""

import dataclasses
import json

from torch import nn

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


def model_name(model: nn.Module) -> str:
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise KeyError(f"{type(model).__name__} is not a registered model")


__all__ = ["MODELS", "Autoencoder", "AutoencoderConfig", "ClusterAE", "ClusterAEConfig", "Denoiser", "DenoiserConfig", "DenoiserRef", "DenoiserRefConfig", "LatentClassifier", "LatentClassifierConfig", "NeuronAE", "NeuronAEConfig", "VAE", "VAE2D", "VAE2DConfig", "VAEConfig", "build_model", "config_json", "model_class", "model_name"]
