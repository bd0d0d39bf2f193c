"""Chapter 7's map to explore: the outfits' 2-D map as an interactive Bokeh figure in the book.

Hover a point: the photo's thumbnail and the models' answers.  Click one: its recommendations
(the chosen recommender's ``k`` nearest outfits, computed here in Python and stored with the
points).  A menu colours the points by any head's answer.  Everything the page needs is in
the HTML :func:`map_html` returns: BokehJS itself (inline resources, no CDN) and every
thumbnail as a ``data:`` URI, so the built book shows it with no network.

Why Bokeh: its hover tool shows an HTML template per point (a thumbnail needs no custom
JavaScript), its inline resources bundle the library into the page, and selection and menu
callbacks are a few lines of JavaScript over one data source.  Plotly would add a 3.5 MB
library and custom JavaScript for the thumbnails.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from fashionkit.book.style import palette
from fashionkit.data.images import load_image
from fashionkit.data.schema import Head

THUMB_PX = 72  # thumbnail height in the page (pixels); the photos are 2:3 portraits
CARD_PX = 128  # width of one outfit's card under the map: the query and four recommendations fit in a row


def thumbnail_uri(path, height: int = THUMB_PX, quality: int = 70) -> str:
    """A small JPEG of the photo at ``path`` as a ``data:`` URI (the page carries its thumbnails)."""
    img = load_image(path)  # the book's one photo reader: RGB, upright, a clear error for a bad file
    img.thumbnail((height, height), Image.BICUBIC)
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _colours(values: Sequence[str], names: Sequence[str]) -> tuple[list[str], str]:
    """Each value's colour (its class's, in class order) and the legend as HTML swatches."""
    colours = dict(zip(names, palette(len(names))))
    swatches = " ".join(f'<span style="white-space:nowrap"><span style="display:inline-block;width:0.8em;'
                        f'height:0.8em;background:{colours[n]};margin-right:0.2em"></span>{n}</span>'
                        for n in names if n in set(values))
    return [colours.get(v, "#999999") for v in values], swatches


def interactive_map(coords: np.ndarray, collection: pd.DataFrame, neighbours: np.ndarray, colour_heads: Sequence[Head],
                    captions: Sequence[str], title: str, width: int = 720, height: int = 560):
    """The Bokeh layout: the map (one point per outfit of ``collection`` at ``coords``), a menu
    that colours it by any of ``colour_heads`` (the answers ``pred.<head>``), its legend, and the
    panel that shows a clicked outfit's recommendations (``neighbours``: ``(n, k)`` positions).
    ``captions``: the text shown under each thumbnail."""
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, CustomJS, Div, HoverTool, Select, TapTool
    from bokeh.plotting import figure

    coords = np.asarray(coords, dtype=float)
    neighbours = np.asarray(neighbours, dtype=int)
    if len(coords) != len(collection) or len(neighbours) != len(collection):
        raise ValueError(f"{len(coords)} points and {len(neighbours)} neighbour lists for {len(collection)} outfits")
    data = {"x": coords[:, 0], "y": coords[:, 1], "image": collection["image"].astype(str).tolist(),
            "thumb": [thumbnail_uri(p) for p in collection["path"]],
            "caption": [str(c).replace("\n", " / ") for c in captions], "recs": [list(map(int, r)) for r in neighbours]}
    legends = {}
    for head in colour_heads:
        data[f"colour.{head.key}"], legends[head.key] = _colours(collection[f"pred.{head.key}"].astype(str).tolist(),
                                                                 head.names)
    first = colour_heads[0].key
    data["colour"] = list(data[f"colour.{first}"])
    source = ColumnDataSource(data)

    fig = figure(width=width, height=height, title=title, tools="pan,wheel_zoom,box_zoom,reset,tap",
                 active_scroll=None, toolbar_location="above")
    fig.scatter("x", "y", source=source, size=7, fill_color="colour", line_color="white", line_width=0.5,
                fill_alpha=0.85, selection_line_color="black", selection_line_width=2,
                nonselection_fill_alpha=0.35, name="outfits")
    fig.add_tools(HoverTool(tooltips=f'<div style="width:{2 * THUMB_PX}px"><img class="outfit-thumb" src="@thumb" '
                            f'style="height:{THUMB_PX}px" alt="@image"><div>@image</div>'
                            '<div style="font-size:11px">@caption</div></div>'))
    fig.select_one(TapTool).mode = "replace"
    fig.xaxis.visible = fig.yaxis.visible = False  # a map's axes have no units of their own
    fig.grid.visible = False

    menu = Select(title="Colour by", value=first, options=[(h.key, h.en) for h in colour_heads], width=220)
    legend = Div(text=legends[first], width=width - 240)
    panel = Div(text="<em>Click an outfit to see its recommendations.</em>", width=width, min_height=THUMB_PX + 60)
    menu.js_on_change("value", CustomJS(args={"source": source, "legend": legend, "legends": legends}, code="""
        const key = cb_obj.value;
        source.data["colour"] = source.data["colour." + key].slice();
        legend.text = legends[key];
        source.change.emit();
    """))
    source.selected.js_on_change("indices", CustomJS(args={"source": source, "panel": panel}, code=f"""
        const d = source.data, picked = source.selected.indices;
        if (!picked.length) {{ return; }}
        const card = (i, note) => '<figure class="outfit-card" style="display:inline-block;margin:0 8px 0 0;vertical-align:top;' +
            'width:{CARD_PX}px"><img src="' + d.thumb[i] + '" style="height:{THUMB_PX}px" alt="' + d.image[i] +
            '"><figcaption style="font-size:11px">' + note + d.image[i] + '<br>' + d.caption[i] + '</figcaption></figure>';
        const q = picked[0];
        panel.text = card(q, 'query: ') + d.recs[q].map((i, r) => card(i, (r + 1) + '. ')).join('');
    """))
    return column(row(menu, legend), fig, panel)


def map_html(layout) -> str:
    """``layout`` as one HTML fragment for the page: BokehJS inline (no CDN; the core library and its
    widgets, 1.6 MB, not the tables, WebGL and MathJax parts the map does not use), the figure's div and script."""
    from bokeh.embed import components
    from bokeh.resources import Resources

    script, div = components(layout)
    return Resources(mode="inline", components=["bokeh", "bokeh-widgets"]).render_js() + script + div
