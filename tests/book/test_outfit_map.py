"""Chapter 7's map to explore, in a real browser with the network off: the points render, hovering one
shows its thumbnail, clicking one shows its recommendations.

Headless Chromium with every network request refused (``browser.py``), so the page must carry
all it uses.  Two pages are checked: one the map function makes from real
photos here, and the built chapter when ``make all`` has built the book.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashionkit.book.outfit_map import interactive_map, map_html
from fashionkit.data.schema import get_head

from browser import WebDriver, needs_browser

BUILT_CHAPTER = Path(__file__).resolve().parents[2] / "build" / "book" / "_build" / "html" / "07_autoencoder_recommend.html"


# the map's plot, and a point's place in the viewport (Bokeh's own scales: no guessing from pixels)
POINT = """
const views = [];
const walk = (v) => { views.push(v); for (const c of (v.child_views || [])) walk(c); };
for (const root of Bokeh.index.roots) walk(root);
const plot = views.find(v => v.model.type === 'Figure');
if (!plot) { return null; }
const outfits = [...plot.renderer_views.values()].find(r => r.model.name === 'outfits');
const data = outfits.model.data_source.data, i = arguments[0];
plot.el.scrollIntoView({block: 'center'});
const box = plot.canvas_view.el.getBoundingClientRect();
return {n: data.x.length, x: box.left + plot.frame.x_scale.compute(data.x[i]),
        y: box.top + plot.frame.y_scale.compute(data.y[i]), image: data.image[i], recs: data.recs[i].length};
"""
# visible elements matching a selector, shadow roots included (Bokeh draws its widgets in them)
VISIBLE = """
const found = [];
const walk = (root) => {
  for (const el of root.querySelectorAll('*')) {
    if (el.matches(arguments[0]) && el.getBoundingClientRect().width > 0) found.push(el);
    if (el.shadowRoot) walk(el.shadowRoot);
  }
};
walk(document);
return found.map(e => e.getAttribute('src') || e.textContent);
"""


def _wait_for_map(driver: WebDriver, timeout: float = 30):
    end = time.time() + timeout
    while time.time() < end:
        point = driver.execute("return typeof Bokeh === 'undefined' || !Bokeh.index.roots.length ? null : "
                               f"(function() {{ {POINT} }}).apply(null, arguments)", 0)
        if point:
            return point
        time.sleep(0.25)
    raise AssertionError("the map did not render (BokehJS missing or no plot): is every script in the page?")


def _check_page(url: str) -> None:
    driver = WebDriver()
    try:
        driver.get(url)
        first = _wait_for_map(driver)
        assert first["n"] > 1 and first["recs"] >= 1
        point = driver.execute(POINT, 1)
        driver.pointer(point["x"], point["y"])
        time.sleep(0.5)
        shown = [s for s in driver.execute(VISIBLE, "img.outfit-thumb") if s.startswith("data:image/jpeg")]
        assert shown, "hovering a point shows no thumbnail"
        driver.pointer(point["x"], point["y"], click=True)
        time.sleep(0.5)
        cards = driver.execute(VISIBLE, "figure.outfit-card figcaption")
        assert cards and cards[0].startswith("query: ") and point["image"] in cards[0]
        assert len(cards) == 1 + point["recs"]  # the query and each of its recommendations
    finally:
        driver.quit()


@needs_browser
def test_the_map_renders_offline_and_shows_thumbnails_and_recommendations(tmp_path, shared_data):
    photos = sorted((shared_data / "ccp" / "images").glob("*.jpg"))[:12]
    rng = np.random.default_rng(0)
    top_type, sub = get_head("top_type"), get_head("bottom_sub")
    collection = pd.DataFrame({"image": [p.stem for p in photos], "path": [str(p) for p in photos],
                               "pred.top_type": rng.choice(top_type.names, len(photos)),
                               "pred.bottom_sub": rng.choice(sub.names, len(photos))})
    neighbours = np.array([[(i + j) % len(photos) for j in range(1, 5)] for i in range(len(photos))])
    layout = interactive_map(rng.normal(size=(len(photos), 2)), collection, neighbours, [sub, top_type],
                             collection["pred.bottom_sub"].tolist(), "twelve outfits")
    page = tmp_path / "map.html"
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + map_html(layout)
                    + "</body></html>")
    _check_page(page.as_uri())


@needs_browser
@pytest.mark.skipif(not BUILT_CHAPTER.is_file(), reason="the book is not built here (make all builds it)")
def test_the_built_chapter_s_map_works_offline():
    _check_page(BUILT_CHAPTER.as_uri())


def test_a_map_needs_one_point_and_one_neighbour_list_per_outfit():
    collection = pd.DataFrame({"image": ["a", "b"], "path": ["a.jpg", "b.jpg"], "pred.bottom_sub": ["skirt", "jeans"]})
    with pytest.raises(ValueError, match="3 points and 2 neighbour lists for 2 outfits"):
        interactive_map(np.zeros((3, 2)), collection, np.zeros((2, 1)), [get_head("bottom_sub")], ["", ""], "x")
