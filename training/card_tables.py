"""The model card's tables, one kind per card section, each made from the checkpoints' headers."""

import json
from pathlib import Path

from .checkpoint import read_metadata, stages, total_samples
from .export import map_path, read_map

TARGETS = {"acc_clean": 99.53, "acc_noisy": 97.52, "acc_recon": 96.77}  # the reference write-up's figures


def row(*cells) -> str:
    """A markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


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
        figures = (TARGETS[f"acc_{k}"] for k in ("clean", "noisy", "recon"))
        rows.append(row("reference write-up", "2,062,859", *figures, "–", "–", "4,500,000", "–", "–"))
    for p in paths:
        meta = read_metadata(p)
        m = json.loads(meta["metrics"])
        samples, devices, minutes = totals(meta)
        kinds = ("rows_cols", "clamp", "fractional")
        rows.append(
            row(
                f"`{meta['model']}` ({p.name})",
                f"{m['parameters']:,}",
                *(f"{m[f'acc_{k}']:.2f}" for k in ("clean", "noisy", "recon")),
                " · ".join(f"{m[f'acc_noisy_{k}']:.2f}" for k in kinds),
                " · ".join(f"{m[f'psnr_recon_{k}']:.1f}" for k in kinds),
                samples,
                devices,
                minutes,
            )
        )
    return "\n".join(rows) + (held_out(paths) if reference else "")


def held_out(paths: list[Path]) -> str:
    """Why a network trained to the write-up's recipe counts fewer samples than its 4,500,000 (25
    epochs of 3 distorted copies of 60,000 digits): the digits its last run held out to validate."""
    notes = []
    for p in paths:
        meta = read_metadata(p)
        r = json.loads(meta["recipe"])
        if r.get("val_size") and r.get("mix") and r.get("init") is None:
            n = 60_000 - r["val_size"]
            notes.append(
                f"`{meta['model']}` learns from {n:,} of the 60,000 training digits ({r['val_size']:,} are "
                f"held out to validate each epoch): {r['epochs']} epochs of {len(r['mix'])} distorted "
                f"copies are {r['epochs'] * len(r['mix']) * n:,} samples."
            )
    return "\n\n" + " ".join(notes) if notes else ""


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
        "| model | parameters | majority-vote acc. % | matched acc. % | NMI | ARI | recon. MSE "
        "| labels in training | training samples | device | wall time |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|",
    ]
    for p in paths:
        meta = read_metadata(p)
        m, recipe = json.loads(meta["metrics"]), json.loads(meta.get("recipe", "{}"))
        used = "none" if recipe.get("labels_used_in_training") is False else "yes"
        rows.append(
            row(
                f"`{meta['model']}` ({p.name})",
                f"{m['parameters']:,}",
                f"{m['acc_majority']:.2f}",
                f"{m['acc_matched']:.2f}",
                f"{m['nmi']:.3f}",
                f"{m['ari']:.3f}",
                f"{m['mse']:.4f}",
                used,
                f"{m['train_samples']:,}",
                meta["device"],
                f"{float(meta['wall_time_s']) / 60:.0f} min",
            )
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
            row(
                f"`{meta['model']}` ({p.name})",
                f"{layers} and back",
                f"{m['parameters']:,}",
                f"{m['latent_dim']} floats ({4 * m['latent_dim']} bytes)",
                f"{m['mse']:.4f}",
                f"{m['train_samples']:,}",
                meta["device"],
                f"{float(meta['wall_time_s']) / 60:.0f} min",
            )
        )
    return "\n".join(rows)


def classifier_lines(paths: list[Path]) -> str:
    """The hybrid classifiers: test accuracy of an MLP on a frozen autoencoder's code."""
    lines = []
    for p in paths:
        meta = read_metadata(p)
        m = json.loads(meta["metrics"])
        lines.append(
            f"- `{p.name}`: an MLP on the frozen {m['latent_dim']}-d code of the autoencoder above, "
            f"test accuracy **{m['acc']:.2f} %** (aim >= 97 %); trained by `{meta['command']}` at commit "
            f"`{meta['commit'][:10]}` on {meta['device']} in {float(meta['wall_time_s']):.0f} s"
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
            row(
                f"`{meta['model']}` ({p.name})",
                cfg["latent_dim"],
                f"{m['parameters']:,}",
                f"{m['iwae_nll']:.2f}",
                f"{m['neg_elbo']:.2f}",
                f"{m['elbo_gap']:.2f}",
                m["k"],
                f"{m.get('samples_confident_pct', float('nan')):.1f} %",
                f"{m.get('samples_class_entropy', float('nan')):.3f}",
                samples,
                devices,
                minutes,
            )
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


def film_table(paths: list[Path]) -> str:
    """The training films (checkpoints/<name>.dynamics.safetensors): frames, the kNN-5 accuracy in
    the latent from the first frame to the last, and how far alignment steadies the frames."""
    from .dynamics import dynamics_path, read_dynamics

    rows = [
        "| model | frames | epochs | kNN-5 % in the latent, first -> last frame "
        "| trustworthiness, last frame | frames by | mean movement per frame, aligned / unaligned "
        "| made by |",
        "|---|---:|---:|---|---:|---|---|---|",
    ]
    for p in paths:
        if not dynamics_path(p).exists():
            continue
        t, h = read_dynamics(dynamics_path(p))
        motion = json.loads(h["motion"])
        rows.append(
            f"| `{h['model']}` | {len(t['epochs'])} | {float(t['epochs'][-1]):g} "
            f"| {float(t['knn5'][0]):.1f} -> {float(t['knn5'][-1]):.1f} "
            f"| {float(t['trustworthiness'][-1]):.4f} "
            f"| {h['method']} | {motion['aligned']:.3f} / {motion['unaligned']:.3f} "
            f"| `{h['snapshots_command']}`, then `{h['command']}` |"
        )
    return "\n".join(rows)


def lines_table(paths: list[Path]) -> str:
    """Both readings of "14 rows and 14 columns removed" (training.evaluate.LINES) for the
    checkpoints scored under both, against the write-up's figures, and which reading the figures
    match."""
    from .evaluate import LINES

    cells = ("clean", "noisy", "recon", "noisy_rows_cols", "recon_rows_cols")
    rows = [
        "| model | lines removed | clean % | noisy % | reconstructed % | rows/cols copy: noisy % "
        "| reconstructed % |",
        "|---|---|---:|---:|---:|---:|---:|",
        row("reference write-up", "not stated", *(TARGETS[f"acc_{k}"] for k in cells[:3]), "–", "–"),
    ]
    verdicts = []
    for p in paths:
        meta = read_metadata(p)
        scored = {"distinct": json.loads(meta["metrics"])}
        scored.update(
            {k: json.loads(meta[f"metrics_lines_{k}"]) for k in LINES if f"metrics_lines_{k}" in meta}
        )
        for reading, m in scored.items():
            rows.append(
                row(f"`{meta['model']}` ({p.name})", reading, *(f"{m[f'acc_{k}']:.2f}" for k in cells))
            )
            short = [f"{k[4:]} {m[k]:.2f} < {v}" for k, v in TARGETS.items() if m[k] < v]
            verdicts.append(
                f"`{meta['model']}` {'does not meet' if short else 'meets'} them under the {reading} "
                f"reading" + (f" ({', '.join(short)})" if short else "")
            )
    legend = "; ".join(f"{k}: {v}" for k, v in LINES.items())
    verdict = "; ".join(verdicts)
    return "\n".join(rows) + f"\n\nLines removed: {legend}. Against the write-up's figures: {verdict}."
