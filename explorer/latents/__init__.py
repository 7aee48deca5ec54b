"""Latent explorer tab: every model's latent space as an interactive map of the 10,000 test digits,
or of all 70,000 digits (test first, then train).

The maps are precomputed by `python -m training export` (checkpoints/<name>.map.safetensors, and
<name>.map-all.safetensors with `--split all`); this package only reads them. The scatter is a gr.HTML
running plotly.js (served from the installed plotly package, so it works offline) through
explorer/static/latent_map.js; hovering shows the digit from sprite sheets of the data set, a click
or a lasso selection comes back to Python as an event. Neighbours are always sought among the test
digits, whose latents the test map stores.

maps.py: the map data; sprites.py: sprite sheets and the served scripts; scatter.py: a view as JSON,
its quality table and share links; handlers.py: the handlers, each returning a named result;
compare.py: a second model beside the first and their neighbourhood agreement; layout.py: the
tab's components and events.
"""

from .compare import Compared, agreement, compare, compare_view, jaccard, knn
from .handlers import (
    MAX_SELECTION,
    N_NEIGHBOURS,
    Placed,
    PointView,
    Restored,
    Selection,
    Switched,
    View,
    decode_code,
    explorer_drawing,
    explorer_upload,
    explorer_yours,
    export_html,
    latent_text,
    model_switched,
    neighbours_of,
    placed,
    point_clicked,
    point_latent,
    point_view,
    restore,
    selection,
    selection_clicked,
    view,
    warm,
)
from .layout import CSS, TAB_ID, build, page_head
from .maps import (
    COLOURS,
    DIGITS,
    PROJECTIONS,
    Map,
    available,
    digit_images,
    explored,
    has_all,
    load_map,
    projections_of,
    usable,
)
from .scatter import _points_json, map_json, parse_query, points_dir, points_file, quality_text, share_query
from .sprites import STATIC, plotly_js, served_scripts, sprite_dir, sprite_paths

__all__ = [
    "Compared",
    "agreement",
    "compare",
    "compare_view",
    "jaccard",
    "knn",
    "COLOURS",
    "CSS",
    "TAB_ID",
    "DIGITS",
    "MAX_SELECTION",
    "N_NEIGHBOURS",
    "PROJECTIONS",
    "STATIC",
    "Map",
    "Placed",
    "PointView",
    "Restored",
    "Selection",
    "Switched",
    "View",
    "_points_json",
    "available",
    "build",
    "decode_code",
    "digit_images",
    "explored",
    "explorer_drawing",
    "explorer_yours",
    "explorer_upload",
    "export_html",
    "has_all",
    "latent_text",
    "load_map",
    "map_json",
    "model_switched",
    "neighbours_of",
    "parse_query",
    "placed",
    "page_head",
    "plotly_js",
    "points_dir",
    "points_file",
    "point_clicked",
    "point_latent",
    "point_view",
    "projections_of",
    "quality_text",
    "restore",
    "selection",
    "selection_clicked",
    "served_scripts",
    "share_query",
    "sprite_dir",
    "sprite_paths",
    "usable",
    "view",
    "warm",
]
