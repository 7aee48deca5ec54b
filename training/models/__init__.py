"""One file per model: its nn.Module, its config dataclass and the ModelSpec it registers
(training.registry discovers every module of this package)."""

from ..registry import build_model, config_json, fold_batchnorm, for_serving, model_name

__all__ = ["build_model", "config_json", "fold_batchnorm", "for_serving", "model_name"]
