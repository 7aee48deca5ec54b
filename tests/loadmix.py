"""A mix of requests like a visitor's, and the answer each gives when sent alone; shared by
tests/test_load.py and benchmarks/load.py."""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gradio_client import handle_file
from PIL import Image


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def mixed_requests(folder: Path) -> list[tuple[str, tuple, str]]:
    """(name, args, api_name) for every endpoint: test digits under each distortion, a drawing,
    an upload, a random index, the health check, the Latent neurons tab's matrix, cell and
    drawing, and the explorer's point and placed drawing."""
    from training.data import load_mnist

    test = load_mnist().test
    out = [("ping", (), "/ping"), ("random_index", (), "/random_index")]
    for i, d in enumerate(["translate", "rows_cols", "clamp", "fractional"]):
        out.append((f"digit-{i}-{d}", (i * 101, d, 10 + i, 0.4 + 0.1 * i, i), "/denoise_test_digit"))
    digit = test.images[42].numpy()
    upload = folder / "upload.png"
    Image.fromarray(255 - digit).resize((120, 120)).convert("RGB").save(upload)
    out.append(("upload", (handle_file(str(upload)), "clamp", 14, 0.5, 3), "/denoise_upload"))
    sketch = np.full((280, 280, 4), 255, np.uint8)
    sketch[np.asarray(Image.fromarray(test.images[7].numpy()).resize((280, 280))) > 100, :3] = 0
    Image.fromarray(sketch).save(folder / "sketch.png")
    drawing = {"background": None, "layers": [], "composite": handle_file(str(folder / "sketch.png"))}
    out.append(("drawing", (drawing, "fractional", 14, 0.5, 5), "/denoise_drawing"))
    out.append(("neurons-view", ("neuron_ae", "matched", "shares"), "/neurons_view"))
    out.append(("neurons-cell", ("cluster_ae", 4, 2), "/neurons_cell"))
    out.append(("neurons-drawing", ("cluster_ae", drawing), "/neurons_drawing"))
    out.append(("explorer-point", ("autoencoder", "umap", 2, "correct", 77), "/explorer_point"))
    out.append(("explorer-drawing", ("autoencoder", "umap", 2, "label", drawing), "/explorer_drawing"))
    from explorer import latents
    from explorer.latents import suspects

    if suspects.has_scores():  # the data-quality lens (python -m training quality)
        out.append(("explorer-suspects", ("test",), "/explorer_suspects"))
    if "vae" in latents.available():  # two models side by side
        pair = ("autoencoder", "vae", "umap", 2, "label", "agreement", 5)
        out.append(("explorer-compare", pair, "/explorer_compare"))
    films = [n for n in latents.available() if latents.film.has_film(n)]
    if films:  # a point of a training film
        out.append(("explorer-film", (films[0], "film", 2, "label", 77), "/explorer_point"))
    return out


@dataclass
class AnswerKey:
    answers: dict = field(default_factory=dict)

    @staticmethod
    def normalise(name: str, result):
        """What must not change between calls: the summary and the pixels of the three images
        (the file paths do change); a random index only has to be in range."""
        if name == "random_index":
            return 0 <= result < 10000
        if name == "ping":
            return result
        if name == "neurons-view":  # matrix, mapping, summary
            return str(result[0]["data"]), str(result[1]["data"]), result[2]
        if name == "neurons-cell":  # mosaic, caption
            return hashlib.sha256(np.asarray(Image.open(result[0])).tobytes()).hexdigest(), result[1]
        if name == "neurons-drawing":  # the digit as seen, activations, winner
            return str(result[1]), result[2]
        if name in ("explorer-point", "explorer-film"):  # map, digit, recon, text, neighbours, code, link
            return result[0], result[3], result[5], result[6], tuple(g["caption"] for g in result[4])
        if name == "explorer-suspects":  # gallery, text, ranking CSV
            return tuple(g["caption"] for g in result[0]), result[1], Path(result[2]).read_text()
        if name == "explorer-compare":  # second map, text, histogram, least agreed digits, link
            return (
                result[0],
                result[1],
                str(result[2]["data"]),
                tuple(g["caption"] for g in result[3]),
                result[4],
            )
        if name == "explorer-drawing":  # map with the placed digit, the digit as seen, text, neighbours
            return result[0], result[2], tuple(g["caption"] for g in result[3])
        digest = [hashlib.sha256(np.asarray(Image.open(p)).tobytes()).hexdigest() for p in result[:3]]
        return result[5], tuple(digest)


def answer_key(client, requests) -> AnswerKey:
    key = AnswerKey()
    for name, args, api in requests:
        key.answers[name] = key.normalise(name, client.predict(*args, api_name=api))
    return key
