"""The Latent explorer: the committed maps, the handlers through gradio_client, share links, bad input."""

import json
import re
import urllib.parse

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import handle_file
from PIL import Image
from refusals import assert_refused

from explorer import latents, runtime
from training.checkpoint import load_checkpoint, read_metadata
from training.evaluate import batched
from training.export import map_path, read_map
from training.projection import place

NAMES = latents.available()
pytestmark = pytest.mark.skipif(
    "autoencoder" not in NAMES, reason="no autoencoder map (python -m training export)"
)


def stored(name):
    return read_map(map_path(runtime.checkpoint_path(name)))


@pytest.mark.parametrize("name", NAMES)
def test_committed_map_belongs_to_the_committed_checkpoint(name):
    tensors, header = stored(name)
    assert header["checkpoint_created"] == read_metadata(runtime.checkpoint_path(name))["created"], (
        "rerun the export"
    )
    test = runtime.test_set()
    assert int(header["n_points"]) == len(test.labels) and torch.equal(tensors["labels"], test.labels.long())
    model = load_checkpoint(runtime.checkpoint_path(name))
    again = batched(model.encode, test.images[:300], "cpu")
    assert torch.allclose(again, tensors["latents"][:300], atol=1e-4), (
        "the stored latents are the checkpoint's"
    )
    quality = json.loads(header["quality"])
    for key, coords in tensors.items():
        if key.endswith(("_2d", "_3d")):
            assert coords.shape == (len(test.labels), int(key[-2])) and torch.isfinite(coords).all()
            assert 0 < quality[key]["trustworthiness"] <= 1
    assert {"umap_2d", "umap_3d", "tsne_2d"} <= set(tensors) or name == "vae2d"


def test_autoencoder_map_quality_and_predictions():
    _, header = stored("autoencoder")
    q = json.loads(header["quality"])
    assert q["umap_2d"]["trustworthiness"] >= 0.97  # the aim for UMAP
    clf = json.loads(read_metadata(runtime.checkpoint_path("latent_classifier"))["metrics"])
    # colouring by prediction uses the latent classifier trained on this very code
    assert q["pred_source"].startswith("latent_classifier") and q["pred_accuracy"] == pytest.approx(
        clf["acc"], abs=0.01
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_test_digit_placed_into_the_map_lands_near_its_own_point(name):
    """Leave-one-out: each of 200 digits placed among the other 9,999 lands closer to its own map
    position than a typical pair of points are to each other."""
    tensors, _ = stored(name)
    proj = "umap_2d" if "umap_2d" in tensors else "latent_2d"
    z, coords = tensors["latents"], tensors[proj]
    rest = torch.ones(len(z), dtype=torch.bool)
    far, spread = [], torch.cdist(coords[:500], coords[:500]).median()
    for i in range(0, 2000, 10):
        rest[i] = False
        pos, _, _ = place(z[rest], coords[rest], z[i : i + 1])
        rest[i] = True
        far.append(float((pos[0] - coords[i]).norm() / spread))
    assert np.median(far) < 0.05, f"median distance {np.median(far):.3f} of the typical spread"


def test_view_switches_model_projection_and_colour(client):
    value, quality, link = client.predict("autoencoder", "umap", 2, "label", -1, api_name="/explorer_view")
    data = json.loads(value)
    assert data["model"] == "autoencoder" and len(data["x"]) == 10_000 and "z" not in data
    assert data["legend"] == [str(d) for d in range(10)] and data["c"] == data["label"]
    assert "trustworthiness" in quality and link.startswith("?")
    data3 = json.loads(client.predict("autoencoder", "umap", 3, "correct", -1, api_name="/explorer_view")[0])
    assert len(data3["z"]) == 10_000 and data3["legend"] == ["correct", "wrong"]
    assert set(data3["c"]) == {0, 1} and all(
        (p != t) == c for p, t, c in zip(data3["pred"], data3["label"], data3["c"])
    )
    for name in NAMES:
        assert (
            json.loads(
                client.predict(
                    name, "tsne" if name != "vae2d" else "latent", 2, "pred", -1, api_name="/explorer_view"
                )[0]
            )["model"]
            == name
        )


def test_clicked_point_shows_digit_reconstruction_and_neighbours(client):
    value, digit, recon, info, gallery, code, link = client.predict(
        "autoencoder", "umap", 2, "label", 42, api_name="/explorer_point"
    )
    label = int(runtime.test_set().labels[42])
    assert f"true digit **{label}**" in info and len(gallery) == 8
    overlay = json.loads(value)["overlay"]
    assert overlay["point"]["index"] == 42 and len(overlay["neighbours"]) == 8
    dists = [float(g["caption"].rsplit(" ", 1)[1]) for g in gallery]
    assert dists == sorted(dists) and dists[0] > 0 and 42 not in [n["index"] for n in overlay["neighbours"]]
    assert len(bytes.fromhex(code)) == 24  # the autoencoder's 6-d code: 24 bytes
    assert Image.open(digit).size == Image.open(recon).size == (224, 224)
    # the code decodes back to the reconstruction
    decoded = client.predict("autoencoder", code, api_name="/explorer_decode")
    assert np.abs(np.asarray(Image.open(decoded), float) - np.asarray(Image.open(recon), float)).max() <= 1
    assert urllib.parse.parse_qs(link[1:])["point"] == ["42"]


def test_switching_model_keeps_the_closest_view():
    m = latents.load_map("autoencoder")
    assert latents.usable(m, "latent", 2, "neuron", 10_000) == ("umap", 2, "label", -1)
    assert latents.usable(m, "tsne", 2, "correct", 5) == ("tsne", 2, "correct", 5)
    proj, dim, colour, digits, value, _, link = latents.model_switched("autoencoder", "latent", 2, "label", 3)
    assert (proj, dim, colour, digits) == ("umap", 2, "label", "test") and json.loads(value)["overlay"][
        "point"
    ]["index"] == 3
    assert "point=3" in link


def test_share_links_round_trip():
    for view in (
        {"model": "autoencoder", "proj": "tsne", "dim": 2, "color": "correct", "point": 7, "digits": "test"},
        {"model": NAMES[-1], "proj": "umap", "dim": 3, "color": "label", "point": -1, "digits": "test"},
        {"model": "autoencoder", "proj": "pca", "dim": 2, "color": "pred", "point": 61234, "digits": "all"},
        {
            "model": "autoencoder",
            "proj": "umap",
            "dim": 2,
            "color": "label",
            "point": 3,
            "digits": "test",
            "compare": NAMES[-1],
        },
    ):
        view = {"compare": "", "frame": None, **view}
        query = latents.share_query(
            view["model"],
            view["proj"],
            view["dim"],
            view["color"],
            view["point"],
            view["digits"],
            view["compare"],
            view["frame"],
        )
        assert latents.parse_query(dict(urllib.parse.parse_qsl(query[1:]))) == view
    assert latents.parse_query({}) is None  # a plain visit opens the default tab
    junk = latents.parse_query(
        {"tab": "explorer", "model": "<script>", "dim": "9", "point": "x", "digits": "x"}
    )
    assert junk["model"] in NAMES and junk["dim"] == 2 and junk["point"] == -1 and junk["digits"] == "test"
    assert "digits" not in latents.share_query(
        "autoencoder", "umap", 2, "label", -1
    )  # old links stay as they were


def test_selection_grid_counts_and_csv(client):
    picked = [0, 1, 2, 3, 4, 9999]
    grid, text, csv_path = client.predict(
        "autoencoder", "umap", 2, json.dumps(picked), api_name="/explorer_selection"
    )
    labels = runtime.test_set().labels
    assert text.startswith("**6 points**")
    rows = open(csv_path).read().strip().splitlines()
    assert rows[0] == "index,label,prediction,x,y" and len(rows) == 7
    assert [int(r.split(",")[0]) for r in rows[1:]] == picked and [
        int(r.split(",")[1]) for r in rows[1:]
    ] == labels[picked].tolist()
    assert Image.open(grid).size == (560, 56)  # 10 columns x 1 row of 28 px at 2x


def test_drawing_and_upload_land_near_the_digit(client, tmp_path):
    test = runtime.test_set()
    img = test.images[0].numpy()
    path = tmp_path / "digit.png"
    Image.fromarray(255 - img).resize((140, 140), Image.BILINEAR).save(path)
    value, seen, text, gallery = client.predict(
        "autoencoder", "umap", 2, "label", handle_file(str(path)), api_name="/explorer_upload"
    )
    drawn = json.loads(value)["overlay"]["drawn"]
    assert set(drawn) == {"x", "y"} and len(gallery) == 8 and "vote" in text
    sketch = {"background": None, "layers": [], "composite": handle_file(str(path))}
    value2, _, text2, _ = client.predict(
        "autoencoder", "umap", 2, "label", sketch, api_name="/explorer_drawing"
    )
    assert json.loads(value2)["overlay"]["drawn"] == drawn and text2 == text


def test_exported_page_is_standalone(client):
    page = open(client.predict("autoencoder", "tsne", 2, "label", api_name="/explorer_export")).read()
    assert "data:image/png;base64," in page and "LatentMap.render" in page and "Plotly" in page
    assert "gradio_api" not in page and "http://" not in page.split("<script>", 1)[0]


def test_exported_page_paints_its_points_before_plotly_runs(client):
    page = open(client.predict("autoencoder", "umap", 2, "label", api_name="/explorer_export")).read()
    # plotly.js travels as text after the points' first painting, and runs after that frame
    assert page.index("LatentMap.preview(") < page.index("<script type='text/plain' id='plotly-js'>")
    assert page.index("id='plotly-js'>") < page.index("LatentMap.render(")


def test_points_files_hold_their_view_and_follow_their_maps(tmp_path, monkeypatch):
    """The file a shared link's page fetches is the view's JSON under the name the page head builds,
    in a folder named after the map files, so that a changed map never meets an old file."""
    for view in ("tsne.2.pred", "pca.2.correct"):  # left by an earlier run: written afresh here
        (latents.points_dir() / f"autoencoder.{view}.test.json").unlink(missing_ok=True)
    latents._points_json.cache_clear()  # the views are made for the first time in this process
    path = latents.points_file("autoencoder", "tsne", 2, "pred")
    assert path.parent == latents.points_dir() and path.name == "autoencoder.tsne.2.pred.test.json"
    assert json.loads(path.read_text()) == json.loads(latents._points_json("autoencoder", "tsne", 2, "pred"))
    head = latents.page_head()
    assert f"fetch('{latents.sprites.file_url(latents.points_dir())}/' + name + '.json')" in head
    assert "[v.model, v.proj, 2, v.color, q.get('digits') === 'all' ? 'all' : 'test'].join('.')" in head
    assert latents.view("autoencoder", "pca", 2, "correct").scatter  # a view shown gets its file
    assert (latents.points_dir() / "autoencoder.pca.2.correct.test.json").is_file()
    stand_in = tmp_path / "autoencoder.map.safetensors"
    stand_in.write_bytes(b"one")
    monkeypatch.setattr(latents.scatter, "map_files", lambda: [stand_in])
    before = latents.points_dir()
    stand_in.write_bytes(b"other")
    assert latents.points_dir() != before


def test_exported_pair_carries_both_maps(client):
    other = NAMES[-1]
    page = open(
        client.predict("autoencoder", "umap", 2, "label", "test", other, api_name="/explorer_export")
    ).read()
    assert page.count("LatentMap.render(") == 2 and "id='map'" in page and "id='map1'" in page
    data = [json.loads(v) for v in re.findall(r"const data\d = (\{.*?\});\n", page)]
    assert [d["model"] for d in data] == ["autoencoder", other] and all(d["digits"] == "test" for d in data)


BAD = [
    ("/explorer_view", ("nope", "umap", 2, "label", -1), "Unknown model|not in the list of choices"),
    ("/explorer_export", ("autoencoder", "umap", 2, "label", "test", "autoencoder"), "Compare with one of"),
    ("/explorer_export", ("autoencoder", "umap", 2, "label", "all", NAMES[-1]), "compared on the 10,000"),
    (
        "/explorer_view",
        ("autoencoder", "mds", 2, "label", -1),
        "Unknown projection|not in the list of choices",
    ),
    ("/explorer_view", ("autoencoder", "tsne", 3, "label", -1), "no 3-d tsne map"),
    ("/explorer_view", ("autoencoder", "latent", 2, "label", -1), "no 2-d latent map"),
    ("/explorer_view", ("autoencoder", "umap", 2, "neuron", -1), "not digit neurons"),
    (
        "/explorer_point",
        ("autoencoder", "umap", 2, "label", 10_000),
        "whole number from 0 to 9999|greater than maximum",
    ),
    ("/explorer_point", ("autoencoder", "umap", 2, "label", None), "whole number"),
    ("/explorer_selection", ("autoencoder", "umap", 2, "not json"), "JSON list"),
    ("/explorer_selection", ("autoencoder", "umap", 2, "[]"), "Select some points"),
    ("/explorer_selection", ("autoencoder", "umap", 2, "[1, -4]"), "whole number"),
    ("/explorer_decode", ("autoencoder", "zz"), "hexadecimal"),
    ("/explorer_decode", ("autoencoder", "00"), "24 bytes"),
    ("/explorer_decode", ("autoencoder", "0000c07f" * 6), "NaN"),
    (
        "/explorer_drawing",
        ("autoencoder", "umap", 2, "label", {"background": None, "layers": [], "composite": None}),
        "empty",
    ),
    ("/explorer_upload", ("autoencoder", "umap", 2, "label", None), "Upload an image"),
    (
        "/explorer_view",
        ("autoencoder", "umap", 2, "label", -1, "some"),
        "Unknown digit set|not in the list of choices",
    ),
    (
        "/explorer_view",
        ("autoencoder", "tsne", 2, "label", -1, "all"),
        "no 2-d tsne map of all digits|export autoencoder --split all",
    ),  # without the map: how to make it
    (
        "/explorer_point",
        ("autoencoder", "umap", 2, "label", 70_000, "all"),
        "whole number from 0 to 69999|greater than maximum",
    ),
    ("/explorer_compare", ("autoencoder", "autoencoder", "umap", 2, "label", "same", -1), "other than"),
    ("/explorer_compare", ("autoencoder", "nope", "umap", 2, "label", "same", -1), "not in the list|Unknown"),
    ("/explorer_compare", ("autoencoder", NAMES[-1], "umap", 2, "label", "x", -1), "not in the list|Unknown"),
]


def test_neighbourhood_agreement():
    """Jaccard overlap by hand; a model agrees with itself everywhere; the stored lists are the
    nearest test latents."""
    a = torch.tensor([[1, 2, 3], [4, 5, 6]])
    b = torch.tensor([[3, 2, 9], [7, 8, 0]])
    assert latents.jaccard(a, b).tolist() == [pytest.approx(2 / 4), 0.0]
    assert bool((latents.agreement("autoencoder", "autoencoder") == 1).all())
    m = latents.load_map("autoencoder")
    near = torch.cdist(m.latents[:50], m.latents)
    near[torch.arange(50), torch.arange(50)] = float("inf")
    assert bool((latents.knn("autoencoder")[:50, 0] == near.argmin(1)).all())


def test_the_link_names_the_second_model():
    from explorer.latents.scatter import with_extras

    link = latents.share_query("autoencoder", "umap", 2, "label", 3)
    named = with_extras(link, "vae")
    assert latents.parse_query(dict(urllib.parse.parse_qsl(named[1:])))["compare"] == "vae"
    assert isinstance(with_extras(named, "vae"), type(gr.skip()))  # already named: the change stops
    assert with_extras(named, "") == link
    # a frame is named only while a film is shown
    assert isinstance(with_extras(link, "", 5), type(gr.skip()))


def test_first_map_coloured_by_agreement():
    from explorer.latents.compare import first_by_agreement

    other = NAMES[-1]
    data = json.loads(first_by_agreement("autoencoder", other, "umap", 2, "label", "both", 5))
    assert data["model"] == "autoencoder" and data["colour"] == "agreement" and other in data["legend_title"]
    assert data["v"] == pytest.approx(latents.agreement("autoencoder", other).tolist(), abs=1e-4)
    assert data["overlay"]["point"]["index"] == 5
    # the first map keeps its own colouring otherwise
    for by, o in (("same", other), ("agreement", other), ("both", "")):
        assert isinstance(first_by_agreement("autoencoder", o, "umap", 2, "label", by, 5), type(gr.skip()))
    with pytest.raises(gr.Error):
        first_by_agreement("autoencoder", "autoencoder", "umap", 2, "label", "both", 5)


def test_compare_two_models(client):
    """The second map (coloured by agreement or as the first, the point marked), the agreement's
    mean, its histogram, the least agreed digits and a link naming both models."""
    other = NAMES[-1]
    value, text, hist, gallery, link = client.predict(
        "autoencoder", other, "umap", 2, "label", "agreement", 7, api_name="/explorer_compare"
    )
    data = json.loads(value)
    agree = latents.agreement("autoencoder", other)
    assert data["model"] == other and data["colour"] == "agreement" and len(data["v"]) == 10_000
    assert data["v"][:5] == pytest.approx(agree[:5].tolist(), abs=1e-4)
    assert data["overlay"]["point"]["index"] == 7
    assert f"{float(agree.mean()):.3f}" in text
    assert sum(row[1] for row in hist["data"]) == 10_000
    worst = int(torch.argmin(agree))
    assert len(gallery) == 24 and gallery[0]["caption"].startswith(f"#{worst} ")
    assert "compare=" + other in link and "point=7" in link
    same = json.loads(
        client.predict("autoencoder", other, "umap", 2, "pred", "same", -1, api_name="/explorer_compare")[0]
    )
    assert same["colour"] == "pred" and "v" not in same
    client.predict(
        "autoencoder", "", "umap", 2, "label", "same", -1, api_name="/explorer_compare"
    )  # none: no error


@pytest.mark.parametrize("api, args, message", BAD)
def test_bad_input_gets_a_message(client, api, args, message):
    assert_refused(client, api, args, message)


# ---- the maps of all 70,000 digits ---------------------------------------------------------------

ALL = [n for n in NAMES if latents.has_all(n)]
needs_all = pytest.mark.skipif(
    "autoencoder" not in ALL, reason="no map of all digits (python -m training export --split all)"
)


@pytest.mark.parametrize("name", ALL)
def test_committed_map_of_all_digits_belongs_to_the_committed_checkpoint(name):
    tensors, header = read_map(map_path(runtime.checkpoint_path(name), "all"))
    assert header["checkpoint_created"] == read_metadata(runtime.checkpoint_path(name))["created"], (
        "rerun the export"
    )
    test, train = runtime.test_set(), runtime.train_set()
    assert (header["n_points"], header["n_test"]) == ("70000", "10000") and "latents" not in tensors
    assert torch.equal(tensors["labels"].long(), torch.cat([test.labels, train.labels]))
    test_map, _ = stored(name)
    quality = json.loads(header["quality"])
    assert quality["latent_dim"] == test_map["latents"].shape[1]
    maps = [k for k in tensors if k.endswith("_2d")]
    assert maps and all(tensors[k].shape == (70_000, 2) and torch.isfinite(tensors[k]).all() for k in maps)
    assert all(0 < quality[k]["trustworthiness"] <= 1 for k in maps)
    source = quality["pred_source"]
    if source.startswith(
        ("its classifier head", "latent_classifier")
    ):  # not a vote or a mapping fitted to the digits
        assert torch.equal(tensors["pred"][:10_000].long(), test_map["pred"]), (
            "the same predictions as the test map"
        )


@needs_all
def test_view_of_all_digits_and_a_training_point(client):
    value, quality, link = client.predict(
        "autoencoder", "umap", 2, "label", -1, "all", api_name="/explorer_view"
    )
    data = json.loads(value)
    assert len(data["x"]) == 70_000 and data["n_test"] == 10_000 and len(data["sprites"]) == 7
    assert "70,000 digits" in data["title"] and "training digits" in quality and "digits=all" in link
    train = runtime.train_set()
    value, digit, recon, info, gallery, code, link = client.predict(
        "autoencoder", "umap", 2, "label", 10_005, "all", api_name="/explorer_point"
    )
    assert f"Training digit #5 (point 10005)**: true digit **{int(train.labels[5])}**" in info
    assert np.array_equal(np.asarray(Image.open(digit).convert("L"))[::8, ::8], train.images[5].numpy())
    overlay = json.loads(value)["overlay"]
    assert overlay["point"]["index"] == 10_005 and len(overlay["neighbours"]) == len(gallery) == 8
    assert all(n["index"] < 10_000 for n in overlay["neighbours"])  # neighbours are test digits
    # the encoded training digit's code decodes like any other
    assert len(bytes.fromhex(code)) == 24 and "point=10005" in link and "digits=all" in link


@needs_all
def test_selection_and_placement_among_all_digits(client, tmp_path):
    grid, text, csv_path = client.predict(
        "autoencoder", "umap", 2, json.dumps([3, 10_000, 69_999]), "all", api_name="/explorer_selection"
    )
    rows = open(csv_path).read().strip().splitlines()
    train = runtime.train_set()
    assert rows[0] == "index,set,set_index,label,prediction,x,y" and "2 training digits" in text
    assert rows[2].startswith(f"10000,train,0,{int(train.labels[0])},") and rows[3].startswith(
        f"69999,train,59999,{int(train.labels[59999])},"
    )
    path = tmp_path / "digit.png"
    Image.fromarray(255 - runtime.test_set().images[0].numpy()).save(path)
    value, _, text, gallery = client.predict(
        "autoencoder", "umap", 2, "label", handle_file(str(path)), "all", api_name="/explorer_upload"
    )
    data = json.loads(value)
    assert len(data["x"]) == 70_000 and set(data["overlay"]["drawn"]) == {"x", "y"} and len(gallery) == 8


@needs_all
def test_switching_to_a_model_without_a_map_of_all_digits_falls_back(monkeypatch):
    monkeypatch.setattr(latents.handlers, "has_all", lambda name: False)
    proj, dim, colour, digits, value, _, _ = latents.model_switched(
        "autoencoder", "umap", 2, "label", 12_345, "all"
    )
    assert (
        digits == "test"
        and len(json.loads(value)["x"]) == 10_000
        and "point" not in json.loads(value)["overlay"]
    )


def test_latent_text_shows_a_short_latent_whole_and_a_long_one_cut():
    assert latents.latent_text(torch.tensor([1.0, -0.5, 0.004])) == "[1.00 -0.50 0.00]"
    long = latents.latent_text(torch.arange(192.0))  # the denoiser's latent
    assert long.startswith("[0.00 1.00 ") and long.endswith(" 15.00 ... and 176 more]")


def test_served_scripts_are_copies_beside_the_sprites():
    """One static folder for the explorer's scripts and sprite sheets (fewer path checks per answer)."""
    copies = latents.served_scripts()
    for copy, source in zip(copies, (latents.plotly_js(), latents.STATIC / "latent_map.js")):
        assert copy.parent == latents.sprite_dir() and copy.read_bytes() == source.read_bytes()
    assert latents.served_scripts() == copies  # a second call finds them current
