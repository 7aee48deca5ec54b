"""A model's training as a film in the explorer: the committed films, the frames the browser gets,
the view and link of a film, the standalone page, refusals."""

import base64
import json
import re
import urllib.parse

import gradio as gr
import numpy as np
import pytest
import torch

from explorer import latents, runtime
from explorer.latents import film as films
from training.checkpoint import read_metadata
from training.dynamics import dynamics_path, read_dynamics

FILMS = [n for n in latents.available() if films.has_film(n)]
pytestmark = pytest.mark.skipif(
    not FILMS, reason="no training film (python -m training export NAME --dynamics)"
)


def decoded(path, film):
    """The frames as the page decodes them (latent_map.js filmAt)."""
    q = np.frombuffer(path.read_bytes(), dtype="<i2").reshape(film.frames, -1, 2).astype(np.float64)
    x0, x1, y0, y1 = film.box()
    return np.stack(
        [x0 + (q[..., 0] + 32767) * (x1 - x0) / 65534, y0 + (q[..., 1] + 32767) * (y1 - y0) / 65534], -1
    )


@pytest.mark.parametrize("name", FILMS)
def test_committed_film_belongs_to_its_checkpoint(name):
    tensors, header = read_dynamics(dynamics_path(runtime.checkpoint_path(name)))
    meta = read_metadata(runtime.checkpoint_path(name))
    assert header["checkpoint_created"] == meta["created"], "rerun the snapshots and the export"
    coords, epochs = tensors["coords"], tensors["epochs"]
    n = len(runtime.test_set().labels)
    assert coords.shape[1:] == (n, 2) and bool(torch.isfinite(coords).all())
    # the film starts at the initial weights and ends where the recipe's training ended
    recipe = json.loads(meta["recipe"]) if "recipe" in meta else {}
    assert float(epochs[0]) == 0 and bool((epochs[1:] > epochs[:-1]).all())
    if "epochs" in recipe:
        assert float(epochs[-1]) == pytest.approx(recipe["epochs"])
    # the digits sort themselves out as the model trains
    assert float(tensors["knn5"][-1]) > float(tensors["knn5"][0]) + 10
    film = films.load_film(name)
    assert film.stale is None and torch.equal(latents.load_map(name).coords["film_2d"], coords[-1].float())


@pytest.mark.parametrize("name", FILMS)
def test_frames_sent_to_the_page_decode_to_the_film(name):
    film = films.load_film(name)
    path = films.film_file(name)
    assert path.stat().st_size == film.frames * film.coords.shape[1] * 2 * 2  # int16 x, y per point a frame
    got = decoded(path, film)
    x0, x1, y0, y1 = film.box()
    step = max(x1 - x0, y1 - y0) / 65534 + 1e-4  # half a quantisation step, and the box's rounding
    assert np.abs(got - film.coords.double().numpy()).max() <= step


def test_quantised_round_trip_on_a_small_film(tmp_path):
    coords = torch.randn(3, 50, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 4.0])
    film = films.Film(coords, [0, 0.5, 1], [10, 50, 90], [0.5, 0.8, 0.9], [3, 2, 1], "mse", {}, None)
    path = tmp_path / "f.bin"
    path.write_bytes(films.quantised(film).astype("<i2").tobytes())
    x0, x1, y0, y1 = film.box()
    # half a step of the quantisation, and the box's rounding to 4 decimals at its edges
    assert np.abs(decoded(path, film) - coords.double().numpy()).max() <= max(x1 - x0, y1 - y0) / 65534 + 1e-4
    assert films.frame_of(film, -1) == 2 and films.frame_of(film, 0) == 0 and films.frame_of(film, None) == 2
    for bad in (3, -2, 1.5, True, "x"):
        with pytest.raises(gr.Error):
            films.frame_of(film, bad)


def test_film_view_link_and_restore():
    name = FILMS[0]
    film = films.load_film(name)
    v = latents.view(name, "film", 2, "label", 7, "test", 2)
    data = json.loads(v.scatter)
    assert data["film"]["frames"] == film.frames and data["film"]["frame"] == 2
    assert data["film"]["url"].startswith("gradio_api/file=") and data["overlay"]["point"]["index"] == 7
    query = dict(urllib.parse.parse_qsl(v.link[1:]))
    assert query["proj"] == "film" and query["frame"] == "2"
    # a plain answer leaves the frame to the page (a click keeps the film where it is)
    assert json.loads(latents.view(name, "film", 2, "label", 7).scatter)["film"]["frame"] is None

    class Request:
        query_params = query

    r = latents.restore(Request())
    assert (r.model, r.proj, r.point, r.frame) == (name, "film", 7, 2)
    assert json.loads(r.view.scatter)["film"]["frame"] == 2
    # a frame past the end opens on the last; a link without a frame too
    Request.query_params = {**query, "frame": "9999"}
    assert latents.restore(Request()).frame == film.frames - 1
    Request.query_params = {k: v for k, v in query.items() if k != "frame"}
    assert latents.restore(Request()).frame == -1
    # the page reports where it settled: the link follows, only while a film is shown
    from explorer.latents.scatter import with_extras

    moved = with_extras(v.link, "", 5)
    assert dict(urllib.parse.parse_qsl(moved[1:]))["frame"] == "5"
    assert isinstance(with_extras(latents.view(name, "umap", 2, "label", 7).link, "", 5), type(gr.skip()))


def test_film_quality_row_and_models_without_a_film():
    name = FILMS[0]
    text = latents.quality_text(name)
    assert re.search(r"Training film, \d+ frames: the last", text)
    others = [n for n in latents.available() if n not in FILMS]
    if others:  # the projection is offered only where there is a film; a link asking for one falls back
        m = latents.load_map(others[0])
        assert "film_2d" not in m.coords
        assert latents.usable(m, "film", 2, "label", 0)[0] != "film"
        with pytest.raises(gr.Error, match="no 2-d film map"):
            latents.view(others[0], "film", 2, "label")


def test_standalone_page_carries_the_whole_film():
    name = FILMS[0]
    page = open(latents.export_html(name, "film", 2, "label")).read()
    m = re.search(r"data0\.film = (\{.*?\});", page)
    assert m, "the film's data is inlined"
    film = json.loads(m.group(1))
    raw = base64.b64decode(film["url"].split(",", 1)[1])
    assert film["url"].startswith("data:application/octet-stream;base64,")
    assert raw == films.film_file(name).read_bytes()
