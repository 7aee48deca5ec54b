"""A real browser (Debian's Chromium driven by Playwright) clicks through the app.

Screenshots go to $SCREENSHOT_DIR when set (the README's come from
`SCREENSHOT_DIR=screenshots .venv/bin/python -m pytest tests/test_browser.py`), else to a temp folder.
"""

import os
import sys
from pathlib import Path

import pytest
import torch

from explorer import latents, runtime
from explorer.latents import suspects
from training.projection import neighbours

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from common import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402  (benchmarks/ is a folder of scripts)

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"),
    pytest.mark.skipif(not runtime.checkpoint_path("denoiser").exists(), reason="no denoiser checkpoint"),
]


@pytest.fixture(scope="module")
def page(server_url):
    playwright = pytest.importorskip("playwright.sync_api")
    url = server_url
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.wait_for_selector("text=MNIST latent lab")
        yield page
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for_images(page):
    for name in ("clean", "noisy", "recon"):
        page.wait_for_selector(f"#denoise-{name} img")


def test_every_tab_opens(page, shots):
    # each tab's own controls become visible (hidden tabs keep theirs in the DOM)
    for tab, control in [
        ("VAE", "Sample"),
        ("Latent explorer", "Export HTML"),
        ("Latent neurons", "Show this cell"),
    ]:
        page.get_by_role("tab", name=tab).click()
        page.get_by_role("button", name=control, exact=True).first.wait_for(state="visible")
    page.get_by_role("tab", name="Denoise & classify").click()
    assert page.get_by_role("button", name="Random digit").is_visible()


def test_every_tab_answers_on_load(page):
    """No empty output on first load: the Denoise tab's digit, the neurons tab's biggest cell and
    the explorer's inspector are there before any click."""
    wait_for_images(page)  # test digit 0 through the default distortion
    assert "True label" in page.locator("#denoise-summary").inner_text()
    page.wait_for_selector("#neurons-mosaic img", state="attached")  # a hidden tab keeps its DOM
    page.wait_for_selector("#explorer-digit img", state="attached")
    assert "Test digit #0" in page.locator("#explorer-info").text_content()


def test_test_digit_runs(page, shots):
    page.get_by_role("tab", name="Test digit").click()
    page.get_by_role("button", name="Run", exact=True).click()
    wait_for_images(page)
    page.wait_for_selector("#denoise-summary:has-text('True label: 7')")
    # the sweep draws its two curves (an empty plot has no marks)
    assert page.locator("#denoise-sweep canvas, #denoise-sweep svg .mark-line").count() == 0
    page.get_by_role("button", name="Sweep the strength").click()
    page.locator("#denoise-sweep canvas, #denoise-sweep svg .mark-line").first.wait_for()
    page.screenshot(path=str(shots / "denoise.png"), full_page=True)
    # another distortion clears the curves, which belonged to the last one
    page.get_by_label("Fractional noise").check()
    page.locator("#denoise-sweep svg .mark-line").first.wait_for(state="detached")
    page.get_by_label("Clamped Gaussian noise").check()  # back to the default for the next tests


@pytest.mark.skipif(not runtime.checkpoint_path("denoiser_ref").exists(), reason="no denoiser_ref checkpoint")
def test_network_choice_runs_the_reference_network(page):
    page.get_by_role("tab", name="Test digit").click()
    page.get_by_label("The reference write-up's network (denoiser_ref)").check()
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_selector("#denoise-summary:has-text('Network denoiser_ref')")
    page.get_by_label(
        "Lean shared-encoder net (denoiser)"
    ).check()  # back to the tab's own for the next tests


@pytest.mark.skipif(
    not runtime.checkpoint_path("denoiser_fashion").exists(), reason="no denoiser_fashion checkpoint"
)
def test_network_choice_runs_the_fashion_network(page, shots):
    page.get_by_role("tab", name="Test digit").click()
    page.get_by_label("The lean net trained on Fashion-MNIST: clothes, not digits (denoiser_fashion)").check()
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_selector(
        "#denoise-summary:has-text('True label: Ankle boot')"
    )  # Fashion-MNIST's test image 0
    page.get_by_role("button", name="Sweep the strength").click()
    page.locator("#denoise-sweep canvas, #denoise-sweep svg .mark-line").first.wait_for()
    page.screenshot(path=str(shots / "denoise-fashion.png"), full_page=True)
    page.get_by_label(
        "Lean shared-encoder net (denoiser)"
    ).check()  # back to the tab's own for the next tests
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_selector("#denoise-summary:has-text('True label: 7')")


SEVEN = [
    [(0.3, 0.25), (0.7, 0.25)],
    [(0.7, 0.25), (0.45, 0.8)],
]  # a top bar, then a diagonal down to the left
ONE = [[(0.5, 0.2), (0.5, 0.8)]]


def draw(page, sketch: str, strokes) -> None:
    """Draw strokes (lists of points in fractions of the canvas) on the canvas `sketch` (a CSS selector)."""
    canvas = page.locator(f"{sketch} canvas").first
    canvas.scroll_into_view_if_needed()  # the mouse reaches only what is on screen
    box = canvas.bounding_box()
    assert box and box["width"] > 100
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    for stroke in strokes:
        page.mouse.move(x0 + stroke[0][0] * w, y0 + stroke[0][1] * h)
        page.mouse.down()
        for fx, fy in stroke[1:]:
            page.mouse.move(x0 + fx * w, y0 + fy * h, steps=15)
        page.mouse.up()


def run_drawing(page, digit: int) -> None:
    """Press "Run on drawing" and wait for the answer that reads `digit` on the clean drawing (a test
    digit's summary names its label; a drawing's has none)."""
    page.get_by_role("button", name="Run on drawing").click()
    page.wait_for_function(
        "(d) => { const t = document.querySelector('#denoise-summary').innerText;"
        " return t.includes('PSNR') && !t.includes('True label')"
        " && t.includes('prediction on the clean image ' + d); }",
        arg=digit,
    )


def test_draw_and_denoise(page, shots):
    page.get_by_role("tab", name="Draw").click()
    # no tool is picked by hand: the page's script has chosen the brush (else the strokes draw nothing)
    page.locator('#denoise-sketch button[aria-label="Brush"].highlight').wait_for()
    draw(page, "#denoise-sketch", SEVEN)
    run_drawing(page, 7)
    wait_for_images(page)
    # the drawing's own sweep (the plot is empty: the last test's distortion changes cleared it)
    assert page.locator("#denoise-sweep svg .mark-line").count() == 0
    page.get_by_role("button", name="Sweep on drawing").click()
    page.locator("#denoise-sweep svg .mark-line").first.wait_for()
    page.screenshot(path=str(shots / "draw.png"), full_page=True)
    # "Clear canvas" drops the editor's tool and the sweep, which was the old drawing's; the script
    # picks the brush again, so the next drawing draws, and runs (not "The image is empty")
    page.locator('#denoise-sketch button[aria-label="Clear canvas"]').click()
    page.locator("#denoise-sweep svg .mark-line").first.wait_for(state="detached")
    page.locator('#denoise-sketch button[aria-label="Brush"].highlight').wait_for()
    draw(page, "#denoise-sketch", ONE)
    run_drawing(page, 1)


def test_brush_is_picked_in_another_language(page):
    """Gradio translates the editor's labels into the browser's language; the brush is still picked."""
    context = page.context.browser.new_context(locale="es-ES", viewport={"width": 1400, "height": 1000})
    try:
        es = context.new_page()
        es.set_default_timeout(60_000)
        es.goto(page.url)
        es.get_by_role("tab", name="Draw").first.click()
        es.locator('#denoise-sketch button[aria-label="Pincel"].highlight').wait_for()
        draw(es, "#denoise-sketch", SEVEN)
        run_drawing(es, 7)
    finally:
        context.close()


@pytest.mark.skipif(
    not all(runtime.checkpoint_path(n).exists() for n in ("cluster_ae", "neuron_ae")),
    reason="no neuron checkpoints",
)
def test_neurons_tab_matrix_and_cell_click(page, shots):
    page.get_by_role("tab", name="Latent neurons").click()
    summary = page.locator("#neurons-summary")
    summary.get_by_text("with the majority-vote mapping").wait_for(state="visible")
    assert "cluster_ae" in summary.inner_text()
    # click the count of true digit 3 in the matched order (its own neuron: the diagonal)
    cell = page.locator('#neurons-matrix [data-testid="cell-3-4"]')
    cell.click()
    page.get_by_text("True digit 3, most active neuron").wait_for(state="visible")
    # the selected cell's number stays readable: white on its shade, not on the white box Gradio
    # gives a selected cell's text
    text, box = cell.locator(".text").evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
    )
    assert text == "rgb(255, 255, 255)" and box == "rgba(0, 0, 0, 0)", (text, box)
    page.wait_for_selector("#neurons-mosaic img", state="attached")  # a hidden tab keeps its DOM
    page.screenshot(path=str(shots / "neurons.png"), full_page=True)


# the screen position of test point i in the explorer's 2-d plotly map
POINT_XY = """(i) => { const el = document.querySelector('#latent-map .js-plotly-plot'); const d = el._lmData;
  const fl = el._fullLayout, r = el.getBoundingClientRect();
  return [r.left + fl._size.l + fl.xaxis.l2p(d.x[i]), r.top + fl._size.t + fl.yaxis.l2p(d.y[i])]; }"""


def hover(page, i: int, caption: str, sheet: str) -> tuple[float, float]:
    """Hover map point i of the explorer: its tip reads `caption` in white (whatever colour the
    page's stylesheet gives text) and shows the digit from a sprite sheet whose URL holds `sheet`,
    which the server serves as a PNG. Returns the point's screen position."""
    x, y = page.evaluate(POINT_XY, i)
    page.mouse.move(x, y)
    tip = page.locator("#latent-map .lm-tip")
    tip.wait_for(state="visible")
    assert tip.inner_text().startswith(caption)
    assert (
        page.locator("#latent-map .lm-text").evaluate("e => getComputedStyle(e).color")
        == "rgb(255, 255, 255)"
    )
    sprite = page.locator("#latent-map .lm-digit").evaluate("e => getComputedStyle(e).backgroundImage")
    assert sheet in sprite
    loaded = page.evaluate("(u) => fetch(u).then(r => r.ok && r.headers.get('content-type'))", sprite[5:-2])
    assert loaded == "image/png"
    return x, y


@pytest.mark.skipif(not latents.available(), reason="no explorer maps (python -m training export)")
def test_explorer_link_hover_and_click(page, shots, server_url):
    """A shared link opens the explorer's view; hovering a point shows its digit from the sprite;
    clicking it shows the point and its neighbours and updates the link."""
    name = latents.available()[0]
    proj = "tsne" if name != "vae2d" else "latent"
    page.goto(f"{server_url}?tab=explorer&model={name}&proj={proj}&dim=2&color=pred&point=5")
    page.get_by_text("Test digit #5").wait_for(state="visible")  # the link restored the selected point
    captions = page.locator("#explorer-neighbours .caption-label")
    captions.first.wait_for()
    assert captions.count() == 8
    # each neighbour's "#index · digit · distance" is shown whole, not cut off with an ellipsis
    assert all(c.evaluate("e => e.scrollWidth <= e.clientWidth") for c in captions.all()), (
        captions.all_inner_texts()
    )
    page.wait_for_selector("#latent-map .js-plotly-plot")
    page.wait_for_function(
        "() => document.querySelector('#latent-map .js-plotly-plot')._lmData?.colour === 'pred'"
    )
    x, y = hover(page, 123, f"#123 digit {int(runtime.test_set().labels[123])}", "test-sprite")
    page.screenshot(path=str(shots / "explorer.png"), full_page=False)
    page.mouse.click(x, y)
    page.get_by_text("Test digit #123").wait_for(state="visible")
    page.wait_for_selector("#explorer-digit img")
    link = page.locator("#explorer-link textarea").input_value()
    assert "point=123" in link and f"model={name}" in link and "color=pred" in link


# where the first drawing put point i (its canvas's own map of values to pixels), in the map's box
PREVIEW_XY = """(i) => { const el = document.querySelector('#latent-map .lm-plot'), a = el._lmPreviewMap;
  const d = window._lmFirstData; return [a[0] * d.x[i] + a[1], a[2] * d.y[i] + a[3]]; }"""


@pytest.mark.skipif(not latents.available(), reason="no explorer maps (python -m training export)")
def test_shared_link_draws_its_points_before_plotly(page, server_url):
    """A shared link's page paints its map's points from the file the page head fetched while the app
    was starting, before plotly.js has run (held back here); plotly then draws the same points at the
    same places, and the first drawing goes."""
    name = latents.available()[0]
    latents.points_file(name, "umap", 2, "label")  # what the app's warm-up writes
    coords = latents.load_map(name).coords["umap_2d"]
    gap, _ = neighbours(coords, coords, 2)
    i = int(gap[:, 1].argmax())  # the most isolated digit: no other point is painted over it
    fresh = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    held, hold = [], [True]
    fresh.route("**/plotly.min.js", lambda route: held.append(route) if hold[0] else route.continue_())
    try:
        fresh.goto(f"{server_url}?tab=explorer&model={name}&proj=umap&dim=2&color=label")
        fresh.wait_for_function("() => document.querySelector('#latent-map .lm-plot')?._lmPreviewN === 10000")
        assert fresh.evaluate("typeof Plotly") == "undefined" and held
        fresh.evaluate("async () => { window._lmFirstData = await window._lmFirst; }")
        x, y = fresh.evaluate(PREVIEW_XY, i)
        dpr = fresh.evaluate("devicePixelRatio")
        alpha = fresh.evaluate(
            "([x, y]) => document.querySelector('#latent-map canvas.lm-preview').getContext('2d')"
            ".getImageData(x, y, 1, 1).data[3]",
            [round(x * dpr), round(y * dpr)],
        )
        assert alpha == 255  # the point is painted where the canvas's map puts it
        hold[0] = False
        for route in held:
            route.continue_()
        fresh.wait_for_function(
            "() => document.querySelector('#latent-map .js-plotly-plot')?._lmDrawnAt"
            " && !document.querySelector('#latent-map canvas.lm-preview')"
        )
        px, py = fresh.evaluate(
            "(i) => { const el = document.querySelector('#latent-map .js-plotly-plot'), fl = el._fullLayout,"
            " d = el._lmData;"
            " return [fl._size.l + fl.xaxis.l2p(d.x[i]), fl._size.t + fl.yaxis.l2p(d.y[i])]; }",
            i,
        )
        assert abs(px - x) <= 1.5 and abs(py - y) <= 1.5, ((x, y), (px, py))
    finally:
        fresh.close()


@pytest.mark.skipif(
    not latents.has_all("autoencoder"), reason="no map of all digits (python -m training export --split all)"
)
def test_explorer_map_of_all_digits_shows_training_digits(page, shots, server_url):
    """A link to the map of all 70,000 digits opens it with the digit set chosen; hovering a training
    digit shows it from its own sprite sheet; clicking it names it as a training digit."""
    page.goto(f"{server_url}?tab=explorer&model=autoencoder&proj=umap&dim=2&color=label&digits=all")
    page.wait_for_function(
        "() => document.querySelector('#latent-map .js-plotly-plot')?._lmData?.digits === 'all'"
    )
    assert page.locator("#explorer-digits input").input_value() == "All 70,000 (test, then train)"
    # the training digit (of the first 10,000) farthest from any other point, so that it is the one hovered
    coords = latents.load_map("autoencoder", "all").coords["umap_2d"]
    gap, _ = neighbours(coords, coords[10_000:20_000], 1, own=torch.arange(10_000, 20_000))
    k = int(gap[:, 0].argmax())
    i, label = 10_000 + k, int(runtime.train_set().labels[k])
    x, y = hover(page, i, f"train #{k} digit {label}", "train-sprite-0-10000")
    page.screenshot(path=str(shots / "explorer-all.png"), full_page=False)
    page.mouse.click(x, y)
    page.get_by_text(f"Training digit #{k} (point {i})").wait_for(state="visible")
    assert "digits=all" in page.locator("#explorer-link textarea").input_value()


@pytest.mark.skipif(
    not latents.has_all("autoencoder"), reason="no map of all digits (python -m training export --split all)"
)
def test_exported_page_of_all_digits_opens_offline(page):
    """The standalone page of the map of all digits draws its 70,000 points from the file alone,
    with the hover tip of a training digit from its inlined sprite sheet."""
    # its own tab: the blocked network must not outlive this test
    offline = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        offline.route(
            "**/*",
            lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_(),
        )
        offline.goto(Path(latents.export_html("autoencoder", "pca", 2, "label", "all")).as_uri())
        offline.wait_for_function("() => document.querySelector('#map')._lmData?.x.length === 70000")
        assert offline.evaluate(
            "document.querySelector('#map')._lmData.sprites.every(s => s.startsWith('data:image/png'))"
        )
        x, y = offline.evaluate(POINT_XY.replace("#latent-map .js-plotly-plot", "#map"), 10_000 + 7)
        offline.mouse.move(x, y)
        offline.locator("#map .lm-tip").wait_for(state="visible")
        assert "digit" in offline.locator("#map .lm-tip").inner_text()
    finally:
        offline.close()


@pytest.mark.skipif(not runtime.checkpoint_path("vae2d").exists(), reason="no vae2d checkpoint")
def test_vae_manifold_click_decodes_the_point(page, shots, server_url):
    page.goto(server_url)
    page.get_by_role("tab", name="VAE").click()
    page.wait_for_selector("#vae-samples img")  # the tab opens with prior samples
    for tab, shown in (
        ("Interpolate", "#vae-strip img"),
        ("Sliders", "#vae-slid img"),
        ("Reconstruct", "#vae-recon img"),
    ):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_selector(shown)  # every sub-tab opens with an answer for its default inputs
    page.get_by_role("tab", name="Manifold (vae2d)").click()
    image = page.locator("#vae-manifold img")
    image.wait_for(state="visible")
    box = image.bounding_box()
    # three quarters across and a quarter down the default +-3 plane: z = (1.5, 1.5)
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.25 * box["height"])
    page.get_by_text("z = (1.50, 1.50)").wait_for(state="visible")
    page.screenshot(path=str(shots / "vae.png"), full_page=True)


@pytest.mark.skipif(not suspects.has_scores(), reason="no quality scores (python -m training quality)")
def test_explorer_colours_by_suspicion_and_opens_a_suspect(page, shots, server_url):
    """Colouring by suspicion draws a colour bar; the ranked suspects open in the inspector."""
    page.goto(f"{server_url}?tab=explorer&model=autoencoder&proj=umap&dim=2&color=suspicion")
    page.wait_for_function(
        "() => document.querySelector('#latent-map .js-plotly-plot')?._lmData?.colour === 'suspicion'"
    )
    page.wait_for_selector("#latent-map .colorbar")  # the continuous scale's bar
    page.get_by_role("button", name="Rank them").click()
    first = page.locator("#explorer-suspects .thumbnail-item").first
    first.wait_for()
    top = int(suspects.ranking("test")[0][0])
    page.locator("#explorer-suspects").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "explorer-suspects.png"), full_page=False)
    first.click()
    page.get_by_text(f"Test digit #{top}").wait_for(state="visible")
    page.get_by_text("rank 1 of 10,000 test digits").wait_for(state="visible")


LINKED_JS = """() => { const el = document.querySelector('#latent-map-2 .js-plotly-plot');
  return el && el.data ? el.data[el.data.length - 1].customdata : null; }"""


@pytest.mark.skipif(len(latents.available()) < 2, reason="needs the maps of two models")
def test_explorer_compares_two_models(page, shots, server_url):
    """A link naming a second model shows its map beside the first; hovering a digit in the first
    marks the same digit in the second (linked brushing); the agreement's summary and its least
    agreed digits are shown, and clicking one selects it in both maps."""
    first, other = latents.available()[0], latents.available()[-1]
    page.goto(f"{server_url}?tab=explorer&model={first}&proj=umap&dim=2&color=label&point=5&compare={other}")
    page.wait_for_function(
        "(o) => document.querySelector('#latent-map-2 .js-plotly-plot')?._lmData?.model === o", arg=other
    )
    page.locator("#explorer-agreement").get_by_text("share on average").wait_for()
    # the first map has followed its box, now half as wide
    page.wait_for_function(
        "() => { const el = document.querySelector('#latent-map .js-plotly-plot');"
        " return el._fullLayout && Math.abs(el._fullLayout.width - el.clientWidth) < 2; }"
    )
    x, y = page.evaluate(POINT_XY, 123)
    page.mouse.move(x, y)
    tip = page.locator("#latent-map .lm-tip")
    tip.wait_for(state="visible")
    hovered = int(tip.inner_text().split()[0][1:])  # at half width the pointer may hit a neighbour of #123
    page.wait_for_function(f"(i) => JSON.stringify(({LINKED_JS})()) === JSON.stringify([i])", arg=hovered)
    page.screenshot(path=str(shots / "explorer-compare.png"), full_page=False)
    page.mouse.move(5, 5)  # off the map: the mark goes
    page.wait_for_function(f"() => JSON.stringify(({LINKED_JS})()) === '[]'")
    caption = page.locator("#explorer-disagree .caption-label").first.inner_text()
    page.locator("#explorer-disagree .thumbnail-item").first.click()
    index = int(caption.split()[0][1:])
    page.get_by_text(f"Test digit #{index}").wait_for(state="visible")
    page.wait_for_function(
        "(i) => document.querySelector('#latent-map-2 .js-plotly-plot')._lmData.overlay.point?.index === i",
        arg=index,
    )
    # the link naming the second model: tests/test_explorer.py (the endpoint and with_compare); in the
    # page it is renamed by an event that follows the point's answer, which a CI run saw arrive late


# What an output shows: a Markdown block's text, or the address of an image (a new image is a new file)
SHOWN_JS = """(sel) => {
  const el = document.querySelector(sel);
  const md = el && el.querySelector('[data-testid="markdown"]');
  if (md) return md.innerText.trim();
  const img = el && el.querySelector('img');
  return img ? img.src : '';
}"""


@pytest.fixture(scope="module")
def live_page(page, server_url):
    """A page of its own, opened fresh at the app's plain address (not a shared view's link):
    nothing drawn or pressed before."""
    fresh = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    fresh.set_default_timeout(60_000)
    fresh.goto(server_url)
    fresh.wait_for_selector("text=MNIST latent lab")
    yield fresh
    fresh.close()


def read_live(page, sketch: str, out: str, strokes, button: str | None = None) -> str:
    """Draw stroke by stroke on `sketch`: the output `out` changes after every stroke with no click;
    pressing `button` then shows the same answer. Clearing the canvas shows no error and leaves the
    answer. Returns the live answer."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.locator(f'{sketch} button[aria-label="Brush"].highlight').wait_for()
    for stroke in strokes:
        before = page.evaluate(SHOWN_JS, out)
        draw(page, sketch, [stroke])
        page.wait_for_function(
            f"([sel, old]) => {{ const now = ({SHOWN_JS})(sel); return now && now !== old; }}",
            arg=[out, before],
        )
    live = page.evaluate(SHOWN_JS, out)
    if button:
        page.locator("button:visible", has_text=button).first.click()
        busy = page.locator(f"{out} .progress-text")
        try:  # the button's answer shows progress while it is on its way
            busy.first.wait_for(timeout=3000)
        except PlaywrightTimeout:
            pass  # it came back before the progress could be seen
        busy.first.wait_for(state="detached")
        assert page.evaluate(SHOWN_JS, out) == live, "the button answers otherwise than the pen"
    page.locator(f'{sketch} button[aria-label="Clear canvas"]').click()
    page.wait_for_timeout(1500)
    assert page.locator(".toast-body").count() == 0, "an empty canvas raised a message"
    assert page.evaluate(SHOWN_JS, out) == live  # an empty canvas shows nothing new
    return live


def test_denoise_reads_the_pen_live(live_page):
    live_page.get_by_role("tab", name="Denoise & classify").click()
    live_page.locator("button[role=tab]:visible", has_text="Draw").first.click()
    live = read_live(live_page, "#denoise-sketch", "#denoise-summary", SEVEN, "Run on drawing")
    assert "prediction on the clean image 7" in live and "True label" not in live


def test_vae_reads_the_pen_live(live_page):
    live_page.get_by_role("tab", name="VAE").click()
    live_page.get_by_role("tab", name="Reconstruct").click()
    live_page.get_by_text("Or draw one").click()
    assert "Posterior mean" in read_live(
        live_page, "#vae-sketch-r", "#vae-recon-text", SEVEN, "Reconstruct the drawing"
    )
    live_page.get_by_role("tab", name="Interpolate").click()
    live_page.get_by_text("Or start from a drawing").click()
    assert read_live(live_page, "#vae-sketch-a", "#vae-strip", ONE)


@pytest.mark.skipif(not latents.available(), reason="no explorer maps (python -m training export)")
def test_explorer_places_the_pen_live(live_page):
    live_page.get_by_role("tab", name="Latent explorer").click()
    assert read_live(live_page, "#explorer-sketch", "#explorer-placed-text", SEVEN, "Place it on the map")


@pytest.mark.skipif(not runtime.checkpoint_path("cluster_ae").exists(), reason="no cluster_ae checkpoint")
def test_neurons_read_the_pen_live(live_page):
    live_page.get_by_role("tab", name="Latent neurons").click()
    assert read_live(live_page, "#neurons-sketch", "#neurons-winner", ONE, "Read the neurons")


def changes(page, out: str, press) -> str:
    """What `out` shows once it has changed after `press()`."""
    before = page.evaluate(SHOWN_JS, out)
    press()
    page.wait_for_function(
        f"([sel, old]) => {{ const now = ({SHOWN_JS})(sel); return now && now !== old; }}",
        arg=[out, before],
    )
    return page.evaluate(SHOWN_JS, out)


@pytest.mark.skipif(not latents.available(), reason="no explorer maps (python -m training export)")
def test_a_drawn_digit_travels_to_the_other_tabs(live_page):
    """A digit drawn on the Denoise tab is placed in the map, read by the neurons and reconstructed by
    the VAE from their "your digit" buttons, with no drawing there; clearing the canvas keeps it."""
    page = live_page
    page.get_by_role("tab", name="Denoise & classify").click()
    page.locator("button[role=tab]:visible", has_text="Draw").first.click()
    read_live(page, "#denoise-sketch", "#denoise-summary", SEVEN)
    page.get_by_role("tab", name="Latent explorer").click()
    page.locator("button[role=tab]:visible", has_text="Your digit").first.click()
    page.locator("button:visible", has_text="Place it on the map: your digit").wait_for()
    placed = changes(
        page,
        "#explorer-placed-text",
        lambda: page.locator("button:visible", has_text="Place it on the map: your digit").click(),
    )
    assert placed
    page.get_by_role("tab", name="VAE").click()
    page.get_by_role("tab", name="Reconstruct").click()
    recon = changes(
        page, "#vae-recon-text", lambda: page.get_by_role("button", name="Reconstruct your digit").click()
    )
    assert "Posterior mean" in recon
    if runtime.checkpoint_path("cluster_ae").exists():
        page.get_by_role("tab", name="Latent neurons").click()
        page.locator("button[role=tab]:visible", has_text="Your digit").first.click()
        button = page.locator("button:visible", has_text="Read the neurons: your digit")
        assert changes(page, "#neurons-winner", button.click)


@pytest.mark.skipif(not latents.available(), reason="no explorer maps (python -m training export)")
def test_explorer_filters_jumps_and_shades_density(page, server_url):
    """Show only a digit, a prediction or the wrong ones: the others fade and the bar counts what is
    shown, as the map's labels and predictions say; a density layer goes under the points; an index
    typed into "go to" opens that digit in the inspector."""
    name = latents.available()[0]
    m = latents.load_map(name)
    page.goto(f"{server_url}?tab=explorer&model={name}&proj=umap&dim=2&color=label&point=5")
    page.wait_for_function("() => document.querySelector('#latent-map .js-plotly-plot')?._lmData")
    bar, count = "#latent-map .lm-filter", "#latent-map .lm-f-count"
    page.wait_for_selector(f"{count}:has-text('10,000 of 10,000 shown')")
    page.select_option(f"{bar} .lm-f-label", "3")
    want = int((m.labels == 3).sum())
    page.wait_for_selector(f"{count}:has-text('{want:,} of 10,000 shown')")
    faded = page.evaluate(
        "() => document.querySelector('#latent-map .js-plotly-plot').data"
        ".filter(t => t.name !== undefined && /^[0-9]$/.test(t.name))"
        ".map(t => [t.name, (t.selectedpoints || []).length])"
    )
    assert dict(faded) == {str(d): (want if d == 3 else 0) for d in range(10)}
    page.locator(f"{bar} .lm-f-wrong").check()
    want = int(((m.labels == 3) & (m.pred != 3)).sum())
    page.wait_for_selector(f"{count}:has-text('{want:,} of 10,000 shown')")
    page.select_option(f"{bar} .lm-f-label", "")
    page.locator(f"{bar} .lm-f-density").check()
    page.wait_for_function(
        "() => document.querySelector('#latent-map .js-plotly-plot').data[0].type === 'histogram2dcontour'"
    )
    page.locator(f"{bar} .lm-f-density").uncheck()
    page.locator(f"{bar} .lm-f-wrong").uncheck()
    page.wait_for_selector(f"{count}:has-text('10,000 of 10,000 shown')")
    page.locator(f"{bar} .lm-f-jump").fill("4321")
    page.locator(f"{bar} .lm-f-jump").press("Enter")
    page.get_by_text("Test digit #4321").wait_for(state="visible")


FILMS = [n for n in latents.available() if latents.film.has_film(n)]
MAP_EL = "document.querySelector('#latent-map .js-plotly-plot')"


def shown_at(page, i: int) -> list[float]:
    """Point i where the map has it now, and where its plotly trace has it (hover reads that)."""
    return page.evaluate(
        f"""(i) => {{ const el = {MAP_EL}, d = el._lmData;
        const t = el.data.find(t => t.customdata && t.customdata.includes(i) && t.name !== 'linked');
        const k = t.customdata.indexOf(i);
        return [d.x[i], d.y[i], t.x[k], t.y[k]]; }}""",
        i,
    )


@pytest.mark.skipif(not FILMS, reason="no training film (python -m training export NAME --dynamics)")
def test_explorer_film_scrubs_and_plays(page, shots, server_url):
    """A link opens a model's training film on its frame; hover reads that frame; scrubbing to the
    last frame moves the points to the trained map and the link follows; play paints frames."""
    name = FILMS[0]
    film = latents.film.load_film(name)
    last = film.frames - 1
    page.goto(f"{server_url}?tab=explorer&model={name}&proj=film&dim=2&color=label&point=5&frame=0")
    page.wait_for_function(f"() => {MAP_EL}?._lmFrames && {MAP_EL}._lmFrame === 0")
    # the digit farthest from any other in the first frame, so that the pointer finds it
    first = film.coords[0]
    gap, _ = neighbours(first, first, 1, exclude_self=True)
    i = int(gap[:, 0].argmax())
    # half a step of the int16 quantisation over the film's box, and float32 in the page
    step = float((film.coords.amax((0, 1)) - film.coords.amin((0, 1))).max()) / 60_000 + 1e-4
    x, y, tx, ty = shown_at(page, i)
    assert abs(x - float(first[i, 0])) <= step and abs(ty - float(first[i, 1])) <= step and (x, y) == (tx, ty)
    hover(page, i, f"#{i} digit {int(runtime.test_set().labels[i])}", "test-sprite")
    page.screenshot(path=str(shots / "explorer-film.png"), full_page=False)
    # scrub to the end: the slider's input paints, its change settles (one restyle)
    page.evaluate(
        "() => { const s = document.querySelector('#latent-map .lm-frame'); s.value = s.max;"
        " s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); }"
    )
    page.wait_for_function(f"() => {MAP_EL}._lmFrame === {last}")
    x1, y1, tx1, ty1 = shown_at(page, i)
    assert abs(x1 - float(film.coords[last, i, 0])) <= step and (x1, y1) == (tx1, ty1)
    assert abs(x1 - x) + abs(y1 - y) > 0.05, "the points moved between the first and the last frame"
    page.wait_for_function(
        f"() => document.querySelector('#explorer-link textarea').value.includes('frame={last}')"
    )
    assert "frame " + str(last) in page.locator("#latent-map .lm-frame-text").inner_text()
    # play from the start: frames are painted, and the film comes to rest on its last frame
    page.evaluate(f"() => LatentMap.settle({MAP_EL}, 0)")
    page.evaluate(f"() => {{ {MAP_EL}._lmPaints = 0; }}")
    page.locator("#latent-map .lm-play").click()
    page.wait_for_function(f"() => {MAP_EL}._lmPaints > 10")
    page.wait_for_function(f"() => !{MAP_EL}._lmPlaying && {MAP_EL}._lmFrame === {last}", timeout=120_000)


PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def phone(page):
    """A phone's page: 390x844, touch, a mobile viewport."""
    context = page.context.browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    context.close()


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.mark.skipif(not latents.available(), reason="no explorer maps (python -m training export)")
def test_phone_shared_link_opens_on_the_map(phone, shots, server_url):
    """At 390x844 a shared link shows the map within the first screen, its controls right below it,
    nothing scrolls sideways, and a tap on a point shows its digit and selects it."""
    name = latents.available()[0]
    phone.goto(f"{server_url}?tab=explorer&model={name}&proj=umap&dim=2&color=label&point=5")
    phone.get_by_text("Test digit #5").wait_for(state="attached")
    phone.wait_for_function("() => document.querySelector('#latent-map .js-plotly-plot')?._lmData")
    plot = phone.locator("#latent-map .js-plotly-plot").bounding_box()
    assert plot["y"] >= 0 and plot["y"] + plot["height"] <= PHONE["height"], plot
    assert phone.locator("#explorer-controls").bounding_box()["y"] >= plot["y"] + plot["height"]
    assert no_sideways_scroll(phone)
    phone.screenshot(path=str(shots / "phone-explorer.png"))
    x, y = phone.evaluate(POINT_XY, 123)
    phone.touchscreen.tap(x, y)
    phone.get_by_text("Test digit #123").wait_for(state="attached")
    tip = phone.locator("#latent-map .lm-tip")
    tip.wait_for(state="visible")
    assert tip.inner_text().startswith("#123 ")


def touch_stroke(page, sketch: str, stroke) -> None:
    """One stroke of a finger (touch events, not a mouse) on the canvas `sketch`."""
    canvas = page.locator(f"{sketch} canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cdp = page.context.new_cdp_session(page)
    points = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in stroke]
    (x0, y0), (x1, y1) = points[0], points[-1]
    path = [(x0 + (x1 - x0) * k / 15, y0 + (y1 - y0) * k / 15) for k in range(16)]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    for x, y in path[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_phone_denoise_canvas_draws_with_touch(phone, shots, server_url):
    """At 390x844 the Denoise tab fits the screen's width and its canvas reads a digit drawn with a
    finger, stroke by stroke, with no button."""
    phone.goto(server_url)
    phone.wait_for_selector("text=MNIST latent lab")
    phone.locator("button[role=tab]:visible", has_text="Draw").first.click()
    phone.locator('#denoise-sketch button[aria-label="Brush"].highlight').wait_for()
    out = "#denoise-summary"
    for stroke in SEVEN:
        before = phone.evaluate(SHOWN_JS, out)
        touch_stroke(phone, "#denoise-sketch", stroke)
        phone.wait_for_function(
            f"([sel, old]) => {{ const now = ({SHOWN_JS})(sel); return now && now !== old; }}",
            arg=[out, before],
        )
    assert "prediction on the clean image 7" in phone.evaluate(SHOWN_JS, out)
    assert no_sideways_scroll(phone)
    phone.screenshot(path=str(shots / "phone-denoise.png"), full_page=True)
