"""The explorer in a real browser (Debian's Chromium, headless, driven by Playwright) against a
running `python app.py`, in one run:

1. Against a peer: the autoencoder's UMAP map of the 10,000 test digits and of all 70,000 digits,
   drawn by the app (a shared link), by the app's standalone HTML export, and by
   `umap.plot.interactive` (bokeh, its scripts inlined, 900x900 so that it stays interactive at
   70,000 points) from the same coordinates: the time from navigation to the scatter drawn (the
   first animation frame after it is; the app and its export paint the points on a canvas first,
   then plotly draws them again), to the scatter answering the pointer (plotly drawn; the peer's
   when drawn), the time from moving the pointer onto a digit to its tooltip naming it (p50 and
   p95 over --hovers digits, the most isolated ones of the map, so the pointer finds the one
   meant), and the page's JS heap after a garbage collection. The peer needs
   `pip install -r requirements-bench.txt`; without it the table says so.
2. Training films: for each model with one, what the page downloads for the film, how many frames a
   second it paints while the film plays (requestAnimationFrame callbacks that drew a frame), beside
   an empty requestAnimationFrame loop in the same page (the most the browser gives here), and one
   stop on a frame (the restyle that lets hover and click read it).

    .venv/bin/python benchmarks/explorer_browser.py [--hovers 50] [--seconds 4]

Targets: the app's first draw at most the peer's at 70,000 points (ratio <= 1.0); hover p50 <= 50
ms; at least 20 frames a second while 10,000 points play.
"""

import argparse
import statistics
import tempfile
import time
import types
from pathlib import Path

import numpy as np
from common import CHROMIUM, CHROMIUM_FLAGS, free_port, percentile, start, stop, table, wait_http

from explorer import latents
from training.projection import neighbours

# run before any script of a page: the time of the first animation frame after `drawn()` holds, and
# of the first after `ready()` holds (hover works)
DRAWN = """window._benchDrawn = null; window._benchReady = null;
const benchPoll = (test, key) => (function poll() {
  let ok = false;
  try { ok = !!test(); } catch (e) {}
  if (ok) requestAnimationFrame(() => { window[key] = performance.now(); });
  else requestAnimationFrame(poll);
})();
benchPoll(() => window._benchIsDrawn(), '_benchDrawn');
benchPoll(() => window._benchIsReady(), '_benchReady');"""

# bokeh: its plot is drawn, and answers the pointer, once its view has a frame
PEER_DRAWN = """() => window.Bokeh && Bokeh.index && Object.keys(Bokeh.index).length > 0
  && !!Object.values(Bokeh.index)[0].frame"""

# each page: when its scatter is drawn, where digit i is on the screen, and whether the tooltip names i
# the app and its export draw the points first on a canvas (el._lmPreviewAt), then plotly draws them
# again, interactive (el._lmDrawnAt); the peer's plot is interactive when drawn
PAGES = {
    "app": {
        "drawn": "() => { const el = document.querySelector('#latent-map .lm-plot');"
        " return el && (el._lmPreviewN === N_POINTS || el._lmDrawnAt && el._lmData.x.length === N_POINTS); }",
        "ready": "() => { const el = document.querySelector('#latent-map .js-plotly-plot');"
        " return el && el._lmDrawnAt && el._lmData.x.length === N_POINTS; }",
        "xy": "(i) => { const el = document.querySelector('#latent-map .js-plotly-plot'), d = el._lmData,"
        " fl = el._fullLayout, r = el.getBoundingClientRect();"
        " return [r.left + fl._size.l + fl.xaxis.l2p(d.x[i]), r.top + fl._size.t + fl.yaxis.l2p(d.y[i])]; }",
        "tip": "(i) => { const t = document.querySelector('#latent-map .lm-tip');"
        " return !!t && t.style.display === 'block' && t.innerText.startsWith('#' + i + ' '); }",
    },
    "page": {
        "drawn": "() => { const el = document.getElementById('map');"
        " return el && (el._lmPreviewN === N_POINTS || el._lmDrawnAt && el._lmData.x.length === N_POINTS); }",
        "ready": "() => { const el = document.getElementById('map');"
        " return el && el._lmDrawnAt && el._lmData.x.length === N_POINTS; }",
        "xy": "(i) => { const el = document.getElementById('map'), d = el._lmData, fl = el._fullLayout,"
        " r = el.getBoundingClientRect();"
        " return [r.left + fl._size.l + fl.xaxis.l2p(d.x[i]), r.top + fl._size.t + fl.yaxis.l2p(d.y[i])]; }",
        "tip": "(i) => { const t = document.querySelector('#map .lm-tip');"
        " return !!t && t.style.display === 'block' && t.innerText.startsWith('#' + i + ' '); }",
    },
    "peer": {
        "drawn": PEER_DRAWN,
        "ready": PEER_DRAWN,
        "xy": """(i) => {
          const v = Object.values(Bokeh.index)[0], f = v.frame, r = v.el.getBoundingClientRect();
          const src = [...Bokeh.documents[0]._all_models.values()].find(m => m.data && m.data.x);
          return [r.left + f.x_scale.compute(src.data.x[i]), r.top + f.y_scale.compute(src.data.y[i])]; }""",
        # bokeh draws its tooltip inside shadow roots
        "tip": r"""(i) => {
          const out = [], walk = r => r.querySelectorAll('*').forEach(e => {
            if (e.classList && e.classList.contains('bk-Tooltip')) out.push(e);
            if (e.shadowRoot) walk(e.shadowRoot);
          });
          walk(document);
          const says = new RegExp('index:\\s*' + i + '\\b');
          return out.some(e => getComputedStyle(e).display !== 'none' && e.shadowRoot
            && [...e.shadowRoot.children].some(c => c.tagName !== 'STYLE' && says.test(c.innerText))); }""",
    },
}

COUNT_RAF = """(ms) => new Promise(done => {
  let n = 0; const t0 = performance.now();
  const tick = now => {
    n++;
    if (now - t0 < ms) requestAnimationFrame(tick); else done(n / ((now - t0) / 1000));
  };
  requestAnimationFrame(tick);
})"""

PLAYED = """async (ms) => {
  const el = document.querySelector('#latent-map .js-plotly-plot');
  el._lmPaints = 0;
  LatentMap.play(el);
  const t0 = performance.now();
  await new Promise(r => setTimeout(r, ms));
  const painted = el._lmPaints, seconds = (performance.now() - t0) / 1000;
  LatentMap.play(el);  // pause: the film settles on a frame
  return painted / seconds;
}"""

SETTLE = """() => {
  const el = document.querySelector('#latent-map .js-plotly-plot');
  const t0 = performance.now();
  LatentMap.settle(el, 0);
  const ms = performance.now() - t0;
  LatentMap.settle(el, el._lmFilm.frames - 1);
  return ms;
}"""


def peer_page(coords: np.ndarray, labels: np.ndarray, folder: Path) -> Path | None:
    """umap.plot.interactive of these coordinates saved as one HTML file, bokeh inlined (None
    without requirements-bench.txt)."""
    try:
        import pandas as pd
        import umap.plot
        from bokeh.io import output_file, save
        from bokeh.resources import INLINE
    except ImportError:
        return None
    n = len(coords)
    plot = umap.plot.interactive(
        types.SimpleNamespace(embedding_=coords),  # what it reads of a fitted UMAP
        labels=labels,
        hover_data=pd.DataFrame({"index": np.arange(n), "digit": labels}),
        point_size=3 if n <= 20_000 else 2,
        width=900,
        height=900,
    )
    path = folder / f"peer-{n}.html"
    output_file(path, title=f"umap.plot {n}")
    save(plot, resources=INLINE)
    return path


def targets(coords, n_hovers: int) -> list[int]:
    """The n_hovers test digits farthest from any other point of the map (the pointer finds them)."""
    test = coords[:10_000]
    gap, _ = neighbours(coords, test, 2)
    return [int(i) for i in gap[:, 1].argsort(descending=True)[:n_hovers]]


def measure(browser, url: str, kind: str, n: int, hovers: list[int]) -> list:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(180_000)
    spec = {k: v.replace("N_POINTS", str(n)) for k, v in PAGES[kind].items()}
    page.add_init_script(
        f"window._benchIsDrawn = {spec['drawn']};\nwindow._benchIsReady = {spec['ready']};\n{DRAWN}"
    )
    page.goto(url)
    page.wait_for_function("() => window._benchDrawn !== null && window._benchReady !== null")
    drawn, ready = (t / 1000 for t in page.evaluate("() => [window._benchDrawn, window._benchReady]"))
    laps = []
    for i in hovers:
        x, y = page.evaluate(spec["xy"], i)
        page.mouse.move(5, 995)  # off the map, so each tooltip appears anew
        time.sleep(0.05)
        t0 = time.perf_counter()
        page.mouse.move(x, y)
        try:
            page.wait_for_function(spec["tip"], arg=i, polling="raf", timeout=5000)
        except Exception:
            continue  # counted below as a hover that missed
        laps.append(1000 * (time.perf_counter() - t0))
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6
    page.close()
    p50 = f"{statistics.median(laps):.1f}" if laps else "-"
    p95 = f"{percentile(laps, 95):.1f}" if laps else "-"
    return [f"{drawn:.2f}", f"{ready:.2f}", p50, p95, f"{len(laps)}/{len(hovers)}", f"{heap:.1f}"]


def peer_rows(browser, url: str, n_hovers: int) -> list[list]:
    """Rows of the first table: app, standalone page and peer at 10,000 and at 70,000 points."""
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="explorer-browser-"))
    for digits in ("test", "all"):
        m = latents.load_map("autoencoder", digits)
        coords = m.coords["umap_2d"]
        n = len(coords)
        hovers = targets(coords, n_hovers)
        pages = {
            "app": f"{url}?tab=explorer&model=autoencoder&proj=umap&dim=2&color=label"
            + ("&digits=all" if digits == "all" else ""),
            "page": Path(latents.export_html("autoencoder", "umap", 2, "label", digits)).as_uri(),
        }
        peer = peer_page(coords.numpy(), m.labels.numpy(), folder)
        if peer is not None:
            pages["peer"] = peer.as_uri()
        got = {kind: measure(browser, link, kind, n, hovers) for kind, link in pages.items()}
        names = {"app": "this app (a shared link)", "page": "its standalone HTML export", "peer": "umap.plot"}
        for kind, row in got.items():
            ratio = f"{float(row[0]) / float(got['peer'][0]):.2f}" if "peer" in got else "-"
            rows.append([f"{n:,}", names[kind], *row, ratio])
        if peer is None:
            missing = "umap.plot: not installed (pip install -r requirements-bench.txt)"
            rows.append([f"{n:,}", missing, *"-" * 7])
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=4, help="length of each frame-rate measurement")
    p.add_argument("--hovers", type=int, default=50, help="digits hovered per page")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    names = [n for n in latents.available() if latents.film.has_film(n)]
    if not names:
        raise SystemExit("no training film: python -m training NAME --snapshots, then export NAME --dynamics")
    port = free_port()
    proc = start(["app.py"], port)
    url = f"http://127.0.0.1:{port}/"
    rows = []
    try:
        wait_http(url, proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            first = peer_rows(browser, url, args.hovers) if "autoencoder" in latents.available() else []
            for name in names:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(120_000)
                films = []
                page.on("requestfinished", lambda r: films.append(r) if "/film-" in r.url else None)
                t0 = time.perf_counter()
                page.goto(f"{url}?tab=explorer&model={name}&proj=film&dim=2&color=label")
                page.wait_for_function(
                    "() => document.querySelector('#latent-map .js-plotly-plot')?._lmFrames"
                    " && document.querySelector('#latent-map .js-plotly-plot')._lmFrame !== undefined"
                )
                loaded = time.perf_counter() - t0
                ms = int(1000 * args.seconds)
                idle = page.evaluate(COUNT_RAF, ms)
                fps = page.evaluate(PLAYED, ms)
                settle = page.evaluate(SETTLE)
                film = page.evaluate("() => document.querySelector('#latent-map .js-plotly-plot')._lmFilm")
                sent = sum(r.sizes()["responseBodySize"] for r in films)
                rows.append(
                    [
                        name,
                        film["frames"],
                        f"{film['points']:,}",
                        f"{sent / 1e6:.2f} MB",
                        f"{fps:.1f}",
                        f"{idle:.1f}",
                        f"{settle:.0f}",
                        f"{loaded:.1f}",
                    ]
                )
                page.close()
            browser.close()
    finally:
        stop(proc)
    print(
        table(
            [
                "points",
                "scatter",
                "first draw (s)",
                "hover works (s)",
                "hover p50 (ms)",
                "hover p95 (ms)",
                "tooltips right",
                "JS heap (MB)",
                "first draw / peer's",
            ],
            first,
        )
    )
    print()
    print(
        table(
            [
                "model",
                "frames",
                "points",
                "film downloaded",
                "frames painted / s, playing",
                "empty rAF loop / s",
                "stop on a frame (ms)",
                "link to film drawn (s)",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
