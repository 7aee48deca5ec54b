"""Generate the model card from the checkpoints' headers.

    python -m training.model_card          # rewrites checkpoints/README.md and the table in README.md
    python -m training.model_card --check  # exits 1 when either file is out of date

Every figure comes from a header written by `python -m training ...`; nothing is typed by hand.
"""

import argparse
import json
import sys
from pathlib import Path

from .checkpoint import checkpoint_files, read_metadata, stages, total_samples, trained_on
from .export import map_path, read_map

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / "checkpoints"
START, END = "<!-- model-card:start -->", "<!-- model-card:end -->"
TARGETS = {"acc_clean": 99.53, "acc_noisy": 97.52, "acc_recon": 96.77}  # the reference write-up's figures


def totals(meta: dict) -> tuple[str, str, str]:
    """Training samples, devices and wall time over all the runs behind a checkpoint, as card cells."""
    runs = stages(meta)
    minutes = " + ".join(f"{r['wall_time_s'] / 60:.0f}" for r in runs) + " min"
    return f"{total_samples(meta):,}", " · ".join(sorted({r["device"] for r in runs})), minutes


def denoiser_table(paths: list[Path], reference: bool = True) -> str:
    """The protocol's figures of each checkpoint, under the reference write-up's own (MNIST only:
    `reference=False` for another data set, where the write-up has no figures)."""
    rows = [
        "| model | parameters | clean % | noisy % | reconstructed % | noisy % rows/cols · clamp · fractional "
        "| PSNR dB rows/cols · clamp · fractional | training samples | device | wall time |",
        "|---|---:|---:|---:|---:|---|---|---:|---|---:|",
    ]
    if reference:
        rows.append(
            f"| reference write-up | 2,062,859 | {TARGETS['acc_clean']} | {TARGETS['acc_noisy']} | {TARGETS['acc_recon']} "
            "| – | – | 4,500,000 | – | – |"
        )
    for p in paths:
        meta = read_metadata(p)
        m = json.loads(meta["metrics"])
        samples, devices, minutes = totals(meta)
        rows.append(
            f"| `{meta['model']}` ({p.name}) | {m['parameters']:,} | {m['acc_clean']:.2f} | {m['acc_noisy']:.2f} "
            f"| {m['acc_recon']:.2f} | {m['acc_noisy_rows_cols']:.2f} · {m['acc_noisy_clamp']:.2f} · {m['acc_noisy_fractional']:.2f} "
            f"| {m['psnr_recon_rows_cols']:.1f} · {m['psnr_recon_clamp']:.1f} · {m['psnr_recon_fractional']:.1f} "
            f"| {samples} | {devices} | {minutes} |"
        )
    return "\n".join(rows)


NEURON_ANCHORS = [  # published Hungarian-matched accuracies on MNIST, for scale
    ("reference write-up (majority vote)", "40"),
    ("k-means on raw pixels", "53.5"),
    ("AE + k-means", "81.8"),
    ("DEC", "84.3"),
    ("VaDE", "94.5"),
    ("N2D", "97.9"),
    ("IIC", "99.2"),
]


def neuron_table(paths: list[Path]) -> str:
    rows = [
        "| model | parameters | majority-vote acc. % | matched acc. % | NMI | ARI | recon. MSE | labels in training "
        "| training samples | device | wall time |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|",
    ]
    for p in paths:
        meta = read_metadata(p)
        m, recipe = json.loads(meta["metrics"]), json.loads(meta.get("recipe", "{}"))
        used = "none" if recipe.get("labels_used_in_training") is False else "yes"
        rows.append(
            f"| `{meta['model']}` ({p.name}) | {m['parameters']:,} | {m['acc_majority']:.2f} | {m['acc_matched']:.2f} "
            f"| {m['nmi']:.3f} | {m['ari']:.3f} | {m['mse']:.4f} | {used} | {m['train_samples']:,} "
            f"| {meta['device']} | {float(meta['wall_time_s']) / 60:.0f} min |"
        )
    anchors = ", ".join(f"{name} {acc} %" for name, acc in NEURON_ANCHORS)
    return "\n".join(rows) + f"\n\nPublished figures for scale (not measured here): {anchors}."


def autoencoder_table(paths: list[Path]) -> str:
    rows = [
        "| model | layers | parameters | code | test MSE per pixel | training samples | device | wall time |",
        "|---|---|---:|---|---:|---:|---|---:|",
    ]
    for p in paths:
        meta = read_metadata(p)
        m, config = json.loads(meta["metrics"]), json.loads(meta["config"])
        layers = "-".join(str(w) for w in [784, *config["hidden"], config["latent_dim"]])
        rows.append(
            f"| `{meta['model']}` ({p.name}) | {layers} and back | {m['parameters']:,} | {m['latent_dim']} floats "
            f"({4 * m['latent_dim']} bytes) | {m['mse']:.4f} | {m['train_samples']:,} | {meta['device']} "
            f"| {float(meta['wall_time_s']) / 60:.0f} min |"
        )
    return "\n".join(rows)


def classifier_lines(paths: list[Path]) -> str:
    """The hybrid classifiers: test accuracy of an MLP on a frozen autoencoder's code."""
    lines = []
    for p in paths:
        meta = read_metadata(p)
        m = json.loads(meta["metrics"])
        lines.append(
            f"- `{p.name}`: an MLP on the frozen {m['latent_dim']}-d code of the autoencoder above, test accuracy "
            f"**{m['acc']:.2f} %** (aim >= 97 %); trained by `{meta['command']}` at commit `{meta['commit'][:10]}` "
            f"on {meta['device']} in {float(meta['wall_time_s']):.0f} s"
        )
    return "\n".join(lines)


def commands(paths: list[Path]) -> str:
    lines = []
    for p in paths:
        meta = read_metadata(p)
        runs = " then ".join(f"`{r['command']}` at commit `{r['commit'][:10]}`" for r in stages(meta))
        scored = (
            f"re-scored by `{meta['rescored_by']}` (the training run's own figures are in its header as "
            "`metrics_at_training`)"
            if "rescored_by" in meta
            else f"scored by `python -m training.evaluate checkpoints/{p.name}`"
        )
        lines.append(
            f"- `{p.name}`: trained by {runs} ({meta['created']}, data: {meta['dataset']}); {scored}"
        )
    return "\n".join(lines)


VAE_ANCHORS = [("IWAE paper, one-layer VAE (k=5000)", "86.76"), ("IWAE paper, one-layer IWAE k=50", "84.78")]


def vae_table(paths: list[Path]) -> str:
    rows = [
        "| model | latent | parameters | test NLL (IWAE) | negative ELBO | gap | k | confident samples | "
        "class entropy (max 2.303) | training samples | device | wall time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    rows += [f"| {name} | | | {nll} | | | | | | | | |" for name, nll in VAE_ANCHORS]
    for p in paths:
        meta = read_metadata(p)
        m, cfg = json.loads(meta["metrics"]), json.loads(meta["config"])
        samples, devices, minutes = totals(meta)
        rows.append(
            f"| `{meta['model']}` ({p.name}) | {cfg['latent_dim']} | {m['parameters']:,} | {m['iwae_nll']:.2f} "
            f"| {m['neg_elbo']:.2f} | {m['elbo_gap']:.2f} | {m['k']} | {m.get('samples_confident_pct', float('nan')):.1f} % "
            f"| {m.get('samples_class_entropy', float('nan')):.3f} | {samples} | {devices} | {minutes} |"
        )
    return "\n".join(rows)


def map_table(paths: list[Path], split: str = "test") -> str:
    """The explorer's maps (checkpoints/<name>.map.safetensors, or <name>.map-all.safetensors for
    split "all"): quality of each projection."""
    rows = [
        "| model | latent kNN-5 % | predictions (% correct) | map | trustworthiness (k=15) | map kNN-5 % |",
        "|---|---:|---|---|---:|---:|",
    ]
    commands_ = set()
    for p in paths:
        if not map_path(p, split).exists():
            continue
        _, header = read_map(map_path(p, split), tensors=False)
        q = json.loads(header["quality"])
        commands_.add(header["command"])
        first = (
            f"| `{header['model']}` | {q['latent_knn5']:.2f} | {q['pred_source']} ({q['pred_accuracy']:.2f}) "
        )
        for key in sorted(k for k in q if isinstance(q[k], dict)):
            rows.append(
                f"{first}| {key.replace('_', ' ')} | {q[key]['trustworthiness']:.4f} | {q[key]['knn5']:.2f} |"
            )
            first = "| | | "
    return "\n".join(rows) + "\n\nMade by " + ", ".join(f"`{c}`" for c in sorted(commands_)) + "."


def card_section() -> str:
    paths = checkpoint_files(CKPT)
    metas = {p: read_metadata(p) for p in paths}  # each header read once to sort the files

    def of(*names: str, dataset: str = "mnist") -> list[Path]:
        return [p for p in paths if metas[p]["model"] in names and trained_on(metas[p]) == dataset]

    denoisers, neurons = of("denoiser", "denoiser_ref"), of("neuron_ae", "cluster_ae")
    fashion = of("denoiser", "denoiser_ref", dataset="fashion")
    autoencoders, classifiers, vaes = of("autoencoder"), of("latent_classifier"), of("vae", "vae2d")
    return "\n".join(
        [
            START,
            "Denoise & classify, on the reference protocol: the 10,000 test digits copied once per distortion "
            "(rows/columns, clamped noise, fractional noise), each copy translated (clean) then distorted (noisy); "
            "accuracy of the classifier on the clean, noisy and reconstructed copies (30,000 images each), PSNR of "
            "the reconstruction against the clean image from the mean squared error of each copy. A checkpoint "
            "trained in stages (`--init` from an earlier checkpoint) counts the samples and minutes of every stage.",
            "",
            denoiser_table(denoisers),
            "",
            commands(denoisers),
            "",
            *(
                [
                    "The same protocol on Fashion-MNIST's 10,000 test images (clothes in ten classes, the item filling "
                    "the frame), for networks trained on Fashion-MNIST's training set; the write-up has no figures for it.",
                    "",
                    denoiser_table(fashion, reference=False),
                    "",
                    commands(fashion),
                    "",
                ]
                if fashion
                else []
            ),
            *(
                [
                    "Latent neurons, on the 10,000 test digits: each digit's most active bottleneck neuron against its "
                    "true label, read through the majority-vote mapping (the reference's) and the best one-to-one "
                    "(Hungarian) mapping; NMI and ARI need no mapping; the reconstruction MSE per pixel is the price "
                    "of the clustering.",
                    "",
                    neuron_table(neurons),
                    "",
                    commands(neurons),
                    "",
                ]
                if neurons
                else []
            ),
            *(
                [
                    "The latent explorer's autoencoder: mean squared error per pixel of the reconstruction of the 10,000 "
                    "test digits in [0, 1] (target <= 0.018; `benchmarks/pca_baseline.py` prints the linear baseline).",
                    "",
                    autoencoder_table(autoencoders),
                    "",
                    commands(autoencoders),
                    "",
                ]
                if autoencoders
                else []
            ),
            *([classifier_lines(classifiers), ""] if classifiers else []),
            *(
                [
                    "VAEs, on the 10,000 test digits binarized once with a fixed seed: the importance-weighted bound on "
                    "the negative log-likelihood with k samples per image and the negative ELBO, in nats per image (lower "
                    "is better); 1,000 prior samples judged by the classifier of the denoiser checkpoint current when the "
                    "VAE was scored (`samples_classifier` in its header): the share read with confidence >= 0.9 and the "
                    "entropy of the predicted digits (ln 10 = 2.303 when all ten are equally common).",
                    "",
                    vae_table(vaes),
                    "",
                    commands(vaes),
                    "",
                ]
                if vaes
                else []
            ),
            *(
                [
                    "The latent explorer's maps of the 10,000 test digits: trustworthiness (k=15; 1 means the map "
                    "invents no neighbours) and leave-one-out kNN-5 accuracy in the latent and in each map.",
                    "",
                    map_table(paths),
                    "",
                ]
                if any(map_path(p).exists() for p in paths)
                else []
            ),
            *(
                [
                    "The maps of all 70,000 digits (the test set, then the training set the models learned from), "
                    "in 2-d: trustworthiness averaged over the 10,000 test digits, their neighbours sought among all "
                    "70,000; kNN-5 accuracy over all 70,000.",
                    "",
                    map_table(paths, "all"),
                    "",
                ]
                if any(map_path(p, "all").exists() for p in paths)
                else []
            ),
            "Regenerate this table with `python -m training.model_card`.",
            END,
        ]
    )


def splice(text: str, section: str) -> str:
    if START in text and END in text:
        return text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="fail when the files differ from the headers")
    args = p.parse_args(argv)
    section = card_section()
    files = {CKPT / "README.md": "# Model card\n\nThe checkpoints the app serves.\n", ROOT / "README.md": ""}
    stale = []
    for path, default in files.items():
        old = path.read_text() if path.exists() else default
        new = splice(old, section)
        if new != old:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print("out of date: " + ", ".join(str(s) for s in stale) + " (run python -m training.model_card)")
        sys.exit(1)
    print(section)


if __name__ == "__main__":
    main()
