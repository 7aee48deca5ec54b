"""The Latent explorer tab's layout and events: which component each handler's result goes to,
and the page's scripts (the scatter's, the copy button's)."""

import gradio as gr

from ..inputs import draw_or_upload, on_stroke
from ..outputs import outputs, updates
from .compare import COMPARE_COLOURS, Compared, K, compare_view, disagreement_point, first_by_agreement
from .handlers import (
    MAX_SELECTION,
    N_NEIGHBOURS,
    Placed,
    PointView,
    Selection,
    Switched,
    View,
    decode_code,
    explorer_drawing,
    explorer_upload,
    explorer_yours,
    export_html,
    frame_moved,
    model_switched,
    point_clicked,
    point_view,
    restore,
    selection,
    selection_clicked,
    view,
)
from .maps import COLOURS, DIGITS, PROJECTIONS, available
from .scatter import points_dir, with_extras
from .sprites import file_url, served_scripts, sprite_dir
from .suspects import SETS, Suspects, suspect_point, suspects

GALLERY_KEY = "(#index · digit · distance)"
# a thumbnail's caption may use its whole width (Gradio stops it at 80 %, which cut "#6224 · 1 · 0.35")
# On a phone the map comes first, its controls right below it, and the rest (the introduction, the
# inspector, the map's accuracy table) after them: a shared link then opens on the map, not on a
# screen of radio buttons. The map's row and column give their blocks to the tab's own column
# (display: contents) so that these can be ordered among the tab's blocks; the map is shortened to
# fit a phone's first screen
CSS = (
    "#explorer-neighbours .caption-label, #explorer-placed .caption-label, #explorer-suspects .caption-label "
    "{ max-width: calc(100% - 4px); }\n"
    # the map fills a desktop's first screen below the tab bar, the controls and the filter bar; a
    # training film's bar (play, slider, chart) takes 150 px of it
    ".lm-plot { height: max(440px, calc(100vh - 390px)); }\n"
    ".lm-plot.lm-has-film { height: max(360px, calc(100vh - 540px)); }\n"
    "@media (max-width: 640px) {"
    " #explorer-main, #explorer-map-column, #explorer-maps { display: contents; }"
    " #latent-map { order: -2; }"
    " #explorer-controls { order: -1; }"
    " #latent-map .html-container { min-height: 0 !important; }"
    " #latent-map .lm-plot { height: 440px !important; }"
    " #latent-map .lm-plot.lm-has-film { height: 380px !important; }"
    " }"
)

COPY_JS = """(link) => {
  const url = link.startsWith('?') ? window.location.origin + window.location.pathname + link : link;
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(url);
  return url;
}"""

TAB_ID = "latent_explorer"  # app.py's id of this tab


def on_load(first: bool) -> str:
    """The gr.HTML's script: the map drawn from each value; before the first value, the first map
    (`first`) draws the points a shared link's page fetched meanwhile (page_head)."""
    return """
const el = element.querySelector('.lm-plot');
const draw = () => {
  if (typeof LatentMap === 'undefined') return;
  if (!props.value) { if (FIRST) LatentMap.preview(el); return; }
  // plotly.js arrives once; the value read then is the latest
  LatentMap.ready().then(() => LatentMap.render(el, JSON.parse(props.value), {
    pick: i => trigger('pick', {index: i}),
    select: ids => trigger('lasso', {indices: ids}),
    frame: f => trigger('frame', {frame: f}),
  }));
};
watch('value', draw);
draw();
""".replace("FIRST", "true" if first else "false")


def page_head() -> str:
    """The page's head (launch(head=...)): latent_map.js, and for a shared link to the explorer
    three things done while the app is still starting: its tab is selected as soon as the tab's
    button exists (not when the app's first answer comes), the map's points are fetched from
    points_dir() when it is a 2-d map, and plotly.js is fetched ahead (run after the first draw)."""
    plotly, script = (file_url(p) for p in served_scripts())
    folder = file_url(points_dir())
    return f"""<script src="{script}"></script>
<script>
(() => {{
  const q = new URLSearchParams(location.search);
  if (q.get('tab') !== 'explorer') return;
  const pick = () => {{
    const b = document.querySelector('button[role=tab][data-tab-id="{TAB_ID}"]');
    if (b && b.getAttribute('aria-selected') !== 'true') b.click();
    return !!b;
  }};
  const watcher = new MutationObserver(() => {{ if (pick()) watcher.disconnect(); }});
  watcher.observe(document.documentElement, {{childList: true, subtree: true}});
  setTimeout(() => watcher.disconnect(), 30000);
  const ahead = document.createElement('link');
  ahead.rel = 'preload'; ahead.as = 'script'; ahead.href = '{plotly}';
  document.head.appendChild(ahead);
  // the file of points_name(); parse_query's defaults; a value outside [a-z0-9_] is no file's
  const v = {{model: q.get('model'), proj: q.get('proj') || 'umap', color: q.get('color') || 'label'}};
  const named = Object.values(v).every(x => /^[a-z0-9_]+$/.test(x || ''));
  if ((q.get('dim') || '2') !== '2' || v.proj === 'film' || !named) return;
  const name = [v.model, v.proj, 2, v.color, q.get('digits') === 'all' ? 'all' : 'test'].join('.');
  window._lmFirst = fetch('{folder}/' + name + '.json').then(r => r.ok ? r.json() : null).catch(() => null);
}})();
</script>"""


def build(demo: gr.Blocks, tabs: gr.Tabs, mine: gr.State):
    """Lay out the tab; call inside the gr.Blocks context `demo`; `tabs` is selected by shared links;
    `mine` is the visitor's digit (explorer.inputs.your_digit), which every tab shares."""
    gr.set_static_paths([sprite_dir()])
    names = available()
    gr.Markdown(
        "Each digit is a point of a model's latent space. Hover for the digit, click for its "
        "reconstruction and neighbours, lasso to list a region, draw a digit to place it; a training "
        "film replays the map as the model learned."
    )
    if not names:
        gr.Markdown(
            "⚠️ No maps yet. Train a model (for example `python -m training autoencoder`) and make its "
            "map with `python -m training export`."
        )
    with gr.Row(elem_id="explorer-controls"):
        model = gr.Dropdown(names, value=names[0] if names else None, label="Model", scale=2)
        # dropdowns keep the bar one row high on a desktop, so the map gets the first screen
        proj = gr.Dropdown(PROJECTIONS, value="umap", label="Projection", scale=2)
        dim = gr.Radio([("2-d", 2), ("3-d", 3)], value=2, label="Map", scale=2)
        # a dropdown: nine colourings (four by class, five scores) would fill a phone screen as radios
        colour = gr.Dropdown(COLOURS, value="label", label="Colour by", scale=2)
        digits = gr.Dropdown(DIGITS, value="test", label="Digits", scale=2, elem_id="explorer-digits")
        other = gr.Dropdown([("none", "")] + names, value="", label="Compare with", scale=2)
    # the training film's frame on screen (-1: the last): the page moves through frames by itself
    # and reports where it settled, for the share link
    frame = gr.State(-1)
    with gr.Row(elem_id="explorer-main"):
        with gr.Column(scale=5, elem_id="explorer-map-column"):
            # the map's height follows the window: the first screen of a desktop, below the tab bar
            # and the controls
            plot = {"html_template": "<div class='lm-plot' style='width:100%'></div>"}
            with gr.Row(elem_id="explorer-maps"):
                scatter = gr.HTML(
                    value="", js_on_load=on_load(True), elem_id="latent-map", min_height=480, **plot
                )
                # the second model's map (explorer/latents/compare.py), shown while one is chosen
                with gr.Column(visible=False) as second:
                    scatter2 = gr.HTML(
                        value="", js_on_load=on_load(False), elem_id="latent-map-2", min_height=480, **plot
                    )
            with gr.Column(visible=False) as compare_panel:
                by = gr.Radio(COMPARE_COLOURS, value="same", label="Colour by")
                agree_text = gr.Markdown(elem_id="explorer-agreement")
                with gr.Row():
                    agree_hist = gr.BarPlot(
                        x="shared neighbours",
                        y="test digits",
                        height=220,
                        sort=[str(k) for k in range(K + 1)],
                        label=f"Test digits by the number of their {K} nearest neighbours both latents share",
                    )
                    disagree = gr.Gallery(
                        label="Least agreement (#index · digit · Jaccard)",
                        columns=6,
                        height=220,
                        format="png",
                        elem_id="explorer-disagree",
                    )
            quality = gr.Markdown()
        with gr.Column(scale=3, elem_id="explorer-inspector"):
            with gr.Row():
                point = gr.Number(
                    value=-1,
                    label="Point (test index, or 10000 + training index among all digits; -1 for none)",
                    precision=0,
                    minimum=-1,
                    maximum=MAX_SELECTION - 1,
                )
                show_btn = gr.Button("Show point", scale=0)
            info = gr.Markdown(elem_id="explorer-info")
            with gr.Row():
                original = gr.Image(
                    label="Digit", interactive=False, format="png", height=180, elem_id="explorer-digit"
                )
                recon = gr.Image(label="Reconstruction", interactive=False, format="png", height=180)
            # png keeps figures.served's unique text chunk (webp would drop it and let equal answers
            # share a file)
            gallery = gr.Gallery(
                label=f"{N_NEIGHBOURS} nearest test digits in latent space {GALLERY_KEY}",
                columns=4,
                height=260,
                elem_id="explorer-neighbours",
                format="png",
            )
            with gr.Row():
                code = gr.Textbox(label="Code (float32, hex): edit and decode", max_lines=2, scale=3)
                decode_btn = gr.Button("Decode", scale=0)
            decoded = gr.Image(label="Decoded code", interactive=False, format="png", height=180)
    with gr.Row():
        with gr.Column():
            gr.Markdown(
                "**Selection**: drag a lasso or a box on the 2-d map (or list point indices and press Enter)."
            )
            selected = gr.Textbox(label="Selected points (JSON list of point indices)", max_lines=3)
            sel_text = gr.Markdown()
            sel_grid = gr.Image(label="Selected digits", interactive=False, format="png", height=300)
            sel_csv = gr.File(label="Selection as CSV")
        with gr.Column():
            sketch, draw_btn, upload, upload_btn, mine_btn = draw_or_upload(
                "Place it on the map", "explorer", mine
            )
            seen = gr.Image(
                label="As the model sees it", interactive=False, format="png", height=168, width=168
            )
            placed_text = gr.Markdown(elem_id="explorer-placed-text")
            placed_gallery = gr.Gallery(
                label=f"Its nearest test digits {GALLERY_KEY}",
                columns=4,
                height=220,
                format="png",
                elem_id="explorer-placed",
            )
    with gr.Row():
        with gr.Column():
            gr.Markdown(
                "**Likeliest mislabelled digits**: every digit scored by the models' agreement with its "
                "label (`python -m training quality`); colour the map by a score above, or rank a set here "
                "and click a digit to inspect it."
            )
            with gr.Row():
                suspect_set = gr.Radio(SETS, value="test", label="Rank", scale=3)
                suspects_btn = gr.Button("Rank them", scale=1)
            suspect_text = gr.Markdown()
            suspect_gallery = gr.Gallery(
                label="Suspects (#index given→suggested suspicion)",
                columns=8,
                height=340,
                format="png",
                elem_id="explorer-suspects",
            )
            suspect_csv = gr.File(label="The whole ranking as CSV")
    with gr.Row():
        link = gr.Textbox(label="Link to this view", interactive=False, scale=4, elem_id="explorer-link")
        copy_btn = gr.Button("Copy link", scale=1)
        html_btn = gr.Button("Export HTML", scale=1)
        html_file = gr.File(label="Standalone map", scale=2)

    # ---- results -> components ----
    controls = [model, proj, dim, colour]
    shown = {"scatter": scatter, "quality": quality, "link": link}
    point_panel = {"original": original, "recon": recon, "info": info, "gallery": gallery, "code": code}
    view_out = outputs(View, **shown)
    point_out = outputs(PointView, **shown, **point_panel)
    switched_out = outputs(Switched, proj=proj, dim=dim, colour=colour, digits=digits, **shown)
    selection_out = outputs(Selection, grid=sel_grid, text=sel_text, csv=sel_csv)
    placed_out = outputs(Placed, scatter=scatter, seen=seen, text=placed_text, gallery=placed_gallery)
    suspects_out = outputs(Suspects, gallery=suspect_gallery, text=suspect_text, csv=suspect_csv)
    compared_out = outputs(
        Compared, scatter=scatter2, text=agree_text, histogram=agree_hist, gallery=disagree, link=link
    )

    def opened(request: gr.Request):
        """On page load: the view a shared link names, or the default view."""
        r = restore(request)
        if r is None:  # no map to show: the page stays as it is
            return gr.skip()
        out = {model: r.model, proj: r.proj, dim: r.dim, colour: r.colour, point: r.point, digits: r.digits}
        out[other] = r.compare
        out[frame] = r.frame
        if r.select_tab:
            out[tabs] = gr.update(selected=TAB_ID)
        out |= updates(r.view, **shown)
        if r.point_view is not None:
            out |= {point_panel[f]: getattr(r.point_view, f) for f in point_panel}
        return out

    # the digit set comes last in every event's inputs, so API calls that leave it out get the test digits
    gr.on(
        [c.input for c in controls[1:]],
        view,
        [*controls, point, digits],
        view_out,
        api_name="explorer_view",
        show_progress="minimal",
    )
    gr.on(
        [model.input, digits.input],
        model_switched,
        [*controls, point, digits],
        switched_out,
        api_name=False,
        show_progress="minimal",
    )
    show_btn.click(point_view, [*controls, point, digits], point_out, api_name="explorer_point")
    point.submit(point_view, [*controls, point, digits], point_out, api_name=False)
    scatter.pick(point_clicked, None, point, api_name=False).then(
        point_view, [*controls, point, digits], point_out, api_name=False
    )
    scatter.lasso(selection_clicked, None, selected, api_name=False).then(
        selection, [model, proj, dim, selected, digits], selection_out, api_name=False
    )
    selected.submit(
        selection, [model, proj, dim, selected, digits], selection_out, api_name="explorer_selection"
    )
    raw = {"preprocess": False}  # the handlers check raw values and files themselves (see denoise.py)
    draw_btn.click(
        explorer_drawing, [*controls, sketch, digits], placed_out, api_name="explorer_drawing", **raw
    )
    # placed as the pen lifts; the button stays for keyboards and the API
    on_stroke(sketch, explorer_drawing, [*controls, sketch, digits], placed_out, mine)
    mine_btn.click(explorer_yours, [*controls, mine, digits], placed_out, api_name=False)
    upload_btn.click(
        explorer_upload, [*controls, upload, digits], placed_out, api_name="explorer_upload", **raw
    )
    decode_btn.click(decode_code, [model, code], decoded, api_name="explorer_decode")
    copy_btn.click(None, link, link, js=COPY_JS, api_name=False)
    html_btn.click(export_html, [*controls, digits, other], html_file, api_name="explorer_export")
    suspects_btn.click(suspects, suspect_set, suspects_out, api_name="explorer_suspects")
    suspect_gallery.select(suspect_point, suspect_set, [point, digits], api_name=False).then(
        model_switched, [*controls, point, digits], switched_out, api_name=False
    ).then(point_view, [*controls, point, digits], point_out, api_name=False)
    opened_out = [tabs, *controls, point, digits, other, frame, *view_out, *point_panel.values()]
    # no progress veil over the map: a shared link's page shows its points before this answer comes
    demo.load(
        opened, None, opened_out, api_name=False, show_progress_on=[c for c in opened_out if c is not scatter]
    )
    # ---- a second model beside the first ----
    other.change(
        lambda o: (gr.update(visible=bool(o)), gr.update(visible=bool(o))),
        other,
        [second, compare_panel],
        api_name=False,
        queue=False,
    )

    # the second map follows the first (its view, its point), and nothing happens while none is chosen
    gr.on(
        [c.change for c in (model, other, proj, dim, colour, by, point)],
        compare_view,
        [model, other, proj, dim, colour, by, point],
        compared_out,
        api_name="explorer_compare",
        trigger_mode="always_last",
        show_progress="minimal",
    ).then(  # and, coloured by agreement on both maps, the first map too
        first_by_agreement,
        [model, other, proj, dim, colour, by, point],
        scatter,
        api_name=False,
        show_progress="hidden",  # a recolouring (or nothing, with no second model): no veil over the map
    )
    scatter2.pick(point_clicked, None, point, api_name=False).then(
        point_view, [*controls, point, digits], point_out, api_name=False
    )
    scatter2.lasso(selection_clicked, None, selected, api_name=False).then(
        selection, [model, proj, dim, selected, digits], selection_out, api_name=False
    )
    # whichever handler answers last with a link (made for the first model's view), it names the
    # second model too, and the film's frame
    scatter.frame(frame_moved, None, frame, api_name=False, queue=False).then(
        with_extras, [link, other, frame], link, api_name=False, queue=False
    )
    gr.on([link.change, other.change], with_extras, [link, other, frame], link, api_name=False, queue=False)
    disagree.select(disagreement_point, [model, other], point, api_name=False).then(
        point_view, [*controls, point, digits], point_out, api_name=False
    )
    return {"model": model, "scatter": scatter, "point": point, "link": link}
