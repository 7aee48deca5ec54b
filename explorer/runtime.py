"""Process-wide state of the app: the device, checkpoints loaded once, the cached test set."""

import ctypes
import threading
import time
from functools import cache

import gradio as gr
import torch

# checkpoint_path (also runtime.checkpoint_path) reads training.checkpoint.CHECKPOINT_DIR (env
# LATENT_LAB_CHECKPOINTS) at each call, so tests and deployments can serve another folder of checkpoints
from training.checkpoint import (
    CheckpointError,
    checkpoint_path,
    load_checkpoint,
    parse_stem,
    read_metadata,
    trained_on,
)
from training.data import DATASETS, DataUnavailable, load_dataset
from training.device import pick_device
from training.models import for_serving, model_name

try:  # on a Hugging Face ZeroGPU Space, spaces.GPU lends a GPU to each decorated call
    import spaces

    gpu = spaces.GPU
except ImportError:  # anywhere else it is a no-op

    def gpu(fn):
        return fn


_device: torch.device | None = None
_lock = threading.Lock()


def set_device(name: str = "auto") -> torch.device:
    global _device
    _device = pick_device(name)
    model.cache_clear()
    return _device


def device() -> torch.device:
    return _device if _device is not None else set_device("auto")


def train_command(name: str) -> str:
    model, dataset = parse_stem(name)
    return f"python -m training {model}" + (f" --dataset {dataset}" if dataset != "mnist" else "")


def created(name: str, default: str | None = None) -> str | None:
    """The `created` stamp of checkpoint `name`, which files made from it (maps, films) record;
    `default` when the checkpoint is missing or unreadable (the handlers that need it say so)."""
    try:
        return read_metadata(checkpoint_path(name))["created"]
    except CheckpointError:
        return default


@cache
def model(name: str) -> torch.nn.Module:
    """The checkpoint checkpoints/<name>.safetensors, loaded once, in eval mode on the device, as
    served (training.models.for_serving: BatchNorm folded into the convolutions, channels_last).
    Raises CheckpointError with the file and the command that makes it when it is missing or bad."""
    path = checkpoint_path(name)
    arch, dataset = parse_stem(name)  # denoiser_fashion: a denoiser trained on Fashion-MNIST
    try:
        with _lock:
            loaded = load_checkpoint(path, device())
            meta = read_metadata(path)
        if model_name(loaded) != arch:  # e.g. a VAE copied over the denoiser's file
            raise CheckpointError(f"checkpoint {path} holds a {model_name(loaded)!r} model, not {arch!r}")
        if trained_on(meta) != dataset:  # e.g. the MNIST denoiser copied over the Fashion one: wrong classes
            raise CheckpointError(
                f"checkpoint {path} was trained on {DATASETS[trained_on(meta)]}, not {DATASETS[dataset]}"
            )
        return for_serving(loaded)  # every BatchNorm call saved and the faster conv layout cut each answer
    except CheckpointError as e:
        raise CheckpointError(f"{e}. Train it with: {train_command(name)}") from e


def model_or_error(name: str) -> torch.nn.Module:
    """model(name) for a request handler: a missing or broken checkpoint becomes a gr.Error with
    the same message (file, what is wrong, the training command)."""
    try:
        return model(name)
    except CheckpointError as e:
        raise gr.Error(str(e)) from e


def problem(name: str) -> str | None:
    """None when checkpoints/<name>.safetensors loads, else the message naming the file, what is
    wrong and the training command that makes it (a missing, corrupt or mismatched file)."""
    try:
        model(name)
    except CheckpointError as e:
        return str(e)
    return None


def test_set(dataset: str = "mnist"):
    """The 10k test images (uint8, (N, 28, 28)) and labels of MNIST or another set of DATASETS;
    loaded once. A set that no source can give is a gr.Error naming the sources tried."""
    try:
        with _lock:
            return load_dataset(dataset).test
    except DataUnavailable as e:
        raise gr.Error(str(e)) from e


def train_set():
    """MNIST's 60k training images and labels (the explorer's map of all 70,000 digits)."""
    with _lock:
        return load_dataset("mnist").train


def keep_memory_flat(every_s: float = 60.0) -> None:
    """Fewer malloc arenas, and free memory handed back to the system once a minute (glibc only;
    elsewhere nothing changes). glibc gives threads that allocate at once arenas of their own, up to
    8 per core, and keeps the freed memory of each for reuse: with Gradio's worker threads taking
    requests in turn, resident memory crept up. Two servers side by side under 16 clients each for
    10 minutes (benchmarks/load.py --minutes 10): +116 MB with glibc's defaults, -28 MB with this."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX; must come before the worker threads allocate
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return

    def run():
        while True:
            time.sleep(every_s)
            trim(0)

    threading.Thread(target=run, daemon=True, name="malloc-trim").start()


def warm_up(names: tuple[str, ...] = (), then=None) -> threading.Thread:
    """Load the test set and models in the background so the first request is quick; `then` is a
    further callable for work that needs them (e.g. a tab's precomputed answers)."""

    def run():
        try:
            test_set()
            for n in names:
                model(n)
            if then is not None:
                then()
        except Exception:  # the handlers report the same error to the user when they need it
            pass

    t = threading.Thread(target=run, daemon=True, name="warm-up")
    t.start()
    return t
