"""Generate the model card from the checkpoints' headers.

    python -m training.model_card          # rewrites checkpoints/README.md, README.md's summary and
                                           # the staged-training table of docs/models.md
    python -m training.model_card --check  # exits 1 when any of them is out of date

Every figure comes from a header written by `python -m training ...`; nothing is typed by hand.
Each checkpoint lands in the card section its registry spec names (`ModelSpec.card`).
"""

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from . import checkpoint, registry
from .card_tables import (
    autoencoder_table,
    classifier_lines,
    commands,
    denoiser_table,
    film_table,
    lines_table,
    map_table,
    neuron_table,
    totals,
    vae_table,
)
from .checkpoint import checkpoint_files, read_metadata, stages, trained_on
from .data import DATASETS
from .dynamics import dynamics_path
from .export import map_path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- model-card:start -->", "<!-- model-card:end -->"
STAGES = "<!-- stages:start -->", "<!-- stages:end -->"

# card key -> (what the section measures, its table, its one-line headline for README's summary)
SECTIONS = {
    "denoise": (
        "Denoise & classify, on the reference protocol: the 10,000 test digits copied once per distortion "
        "(rows/columns, clamped noise, fractional noise), each copy translated (clean) then distorted "
        "(noisy); accuracy of the classifier on the clean, noisy and reconstructed copies (30,000 images "
        "each), PSNR of the reconstruction against the clean image from the mean squared error of each "
        "copy. A checkpoint trained in stages (`--init` from an earlier checkpoint) counts the samples and "
        "minutes of every stage.",
        denoiser_table,
        lambda m: (
            f"{m['acc_clean']:.2f} / {m['acc_noisy']:.2f} / {m['acc_recon']:.2f} % read clean / "
            "distorted / reconstructed"
        ),
    ),
    "neurons": (
        "Latent neurons, on the 10,000 test digits: each digit's most active bottleneck neuron against "
        "its true label, read through the majority-vote mapping (the reference's) and the best one-to-one "
        "(Hungarian) mapping; NMI and ARI need no mapping; the reconstruction MSE per pixel is the price of "
        "the clustering.",
        neuron_table,
        lambda m: f"{m['acc_matched']:.2f} % of digits read by their most active neuron (matched), no labels",
    ),
    "reconstruction": (
        "The latent explorer's autoencoder: mean squared error per pixel of the reconstruction of the "
        "10,000 test digits in [0, 1] (target <= 0.018; `benchmarks/pca_baseline.py` prints the linear "
        "baseline).",
        autoencoder_table,
        lambda m: f"test MSE per pixel {m['mse']:.4f} through a {m['latent_dim']}-d code",
    ),
    "code_classifier": (
        "",
        classifier_lines,
        lambda m: f"{m['acc']:.2f} % test accuracy from the frozen {m['latent_dim']}-d code",
    ),
    "vae": (
        "VAEs, on the 10,000 test digits binarized once with a fixed seed: the importance-weighted bound "
        "on the negative log-likelihood with k samples per image and the negative ELBO, in nats per image "
        "(lower is better); 1,000 prior samples judged by the classifier of the denoiser checkpoint "
        "current when the VAE was scored (`samples_classifier` in its header): the share read with "
        "confidence >= 0.9 and the entropy of the predicted digits (ln 10 = 2.303 when all ten are "
        "equally common).",
        vae_table,
        lambda m: f"test NLL {m['iwae_nll']:.2f} nats (IWAE, k={m['k']})",
    ),
}
OTHER_DATA = (
    "The same protocol on {name}'s 10,000 test images{what}, for networks trained on {name}'s training "
    "set; the write-up has no figures for it."
)
WHAT = {"fashion": " (clothes in ten classes, the item filling the frame)"}  # how a data set differs
LINES_INTRO = (
    "The write-up does not say whether its 14 rows and 14 columns are distinct lines or 14 draws of each "
    "that may repeat; the headline figures above read them as distinct lines. Both readings, each scored "
    "by `python -m training.evaluate checkpoints/<name>.safetensors --protocol <reading>`:"
)
MAPS = (
    "The latent explorer's maps of the 10,000 test digits: trustworthiness (k=15; 1 means the map "
    "invents no neighbours) and leave-one-out kNN-5 accuracy in the latent and in each map."
)
MAPS_ALL = (
    "The maps of all 70,000 digits (the test set, then the training set the models learned from), in "
    "2-d: trustworthiness averaged over the 10,000 test digits, their neighbours sought among all "
    "70,000; kNN-5 accuracy over all 70,000."
)
FILMS = (
    "Training films (the explorer's \"Training film\" projection): the test digits' map at the initial "
    "weights, at 8 log-spaced steps of the first epoch and after every epoch; a wider latent by PCA, "
    "each frame turned onto the next (orthogonal Procrustes). Trustworthiness over the first 2,000 "
    "test digits; movement in units of the frames' RMS radius."
)


def grouped() -> dict[tuple[str, str], list[Path]]:
    """The checkpoints by (card section, data set), in the order of SECTIONS."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for p in checkpoint_files(checkpoint.CHECKPOINT_DIR):
        meta = read_metadata(p)
        groups.setdefault((registry.get(meta["model"]).card, trained_on(meta)), []).append(p)
    order = list(SECTIONS)
    return dict(sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1] != "mnist", kv[0][1])))


def card_section() -> str:
    parts = [START]
    for (card, dataset), paths in grouped().items():
        intro, table, _ = SECTIONS[card]
        if dataset != "mnist":
            intro = OTHER_DATA.format(name=DATASETS[dataset], what=WHAT.get(dataset, ""))
            table = partial(denoiser_table, reference=False)  # the write-up's figures are MNIST's
        parts += [*([intro, ""] if intro else []), table(paths), ""]
        if card != "code_classifier":  # its lines carry their own command
            parts += [commands(paths), ""]
        both = [p for p in paths if any(k.startswith("metrics_lines_") for k in read_metadata(p))]
        if card == "denoise" and dataset == "mnist" and both:
            parts += [LINES_INTRO, "", lines_table(both), ""]
    paths = checkpoint_files(checkpoint.CHECKPOINT_DIR)
    for split, intro in (("test", MAPS), ("all", MAPS_ALL)):
        if any(map_path(p, split).exists() for p in paths):
            parts += [intro, "", map_table(paths, split), ""]
    if any(dynamics_path(p).exists() for p in paths):
        parts += [FILMS, "", film_table(paths), ""]
    return "\n".join([*parts, "Regenerate this table with `python -m training.model_card`.", END])


def summary_section() -> str:
    """README's five rows: the first checkpoint of each MNIST section and its headline figure."""
    rows = ["| model | what it does | on the test set |", "|---|---|---|"]
    for (card, dataset), paths in grouped().items():
        if dataset == "mnist":
            meta = read_metadata(paths[0])
            spec = registry.get(meta["model"])
            rows.append(
                f"| `{spec.name}` | {spec.summary} | {SECTIONS[card][2](json.loads(meta['metrics']))} |"
            )
    return "\n".join(
        [
            START,
            *rows,
            "",
            "Every checkpoint, its training commands and its maps: [the model card](checkpoints/README.md). "
            "Regenerate with `python -m training.model_card`.",
            END,
        ]
    )


def stages_section() -> str:
    """The runs behind each checkpoint, oldest first (the `--init` chain of staged training)."""
    rows = [
        "| checkpoint | stage | command | commit | device | samples | minutes |",
        "|---|---:|---|---|---|---:|---:|",
    ]
    for p in checkpoint_files(checkpoint.CHECKPOINT_DIR):
        for i, run in enumerate(stages(read_metadata(p)), 1):
            rows.append(
                f"| `{p.name}` | {i} | `{run['command']}` | `{(run['commit'] or '')[:10]}` | {run['device']} "
                f"| {run['train_samples']:,} | {run['wall_time_s'] / 60:.0f} |"
            )
    return "\n".join([STAGES[0], *rows, "", "Made by `python -m training.model_card`.", STAGES[1]])


def splice(text: str, section: str, markers: tuple[str, str] = (START, END)) -> str:
    start, end = markers
    if start in text and end in text:
        return text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="fail when the files differ from the headers")
    args = p.parse_args(argv)
    card = card_section()
    files = {  # path -> (text when the file is missing, section, its markers)
        checkpoint.CHECKPOINT_DIR / "README.md": (
            "# Model card\n\nThe checkpoints the app serves.\n",
            card,
            None,
        ),
        ROOT / "README.md": ("", summary_section(), None),
        ROOT / "docs" / "models.md": ("# Models\n", stages_section(), STAGES),
    }
    stale = []
    for path, (default, section, markers) in files.items():
        old = path.read_text() if path.exists() else default
        new = splice(old, section, markers or (START, END))
        if new != old:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(new)
    if args.check and stale:
        print("out of date: " + ", ".join(str(s) for s in stale) + " (run python -m training.model_card)")
        sys.exit(1)
    print(card)


__all__ = ["main", "totals"]

if __name__ == "__main__":
    main()
