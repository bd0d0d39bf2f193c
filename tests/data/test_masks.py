import numpy as np
import pytest
from PIL import Image

from fashionkit.data.masks import LENGTH_BUCKETS, bucket_length, measure_length

HAIR, SKIN, PANTS, SHOES = 19, 41, 31, 39


def person(hem_row, height=200, head=10, sole=190, width=60):
    """A synthetic label mask: head at `head`, pants from row 100 to `hem_row`, shoes to `sole`."""
    m = np.zeros((height, width), np.uint8)
    m[head:60, 20:40] = HAIR
    m[60:sole, 25:35] = SKIN
    m[sole - 8:sole + 1, 18:42] = SHOES
    m[100:hem_row + 1, 20:40] = PANTS  # drawn last: long trousers cover the shoe
    return m


@pytest.mark.parametrize("hem_row, expected", [
    (189, "full"), (176, "ankle"), (150, "midi"), (135, "knee"), (110, "short")])
def test_synthetic_hem_heights_fall_in_the_right_bucket(hem_row, expected):
    m = measure_length(person(hem_row), [PANTS], [SHOES])
    assert m.reason == "ok"
    assert m.hem_height == pytest.approx((190 - hem_row) / 180)
    assert m.length == expected


def test_trousers_over_the_shoe_are_full_length():
    assert measure_length(person(195, height=220), [PANTS], [SHOES]).length == "full"


def test_unmeasurable_cases_are_missing_with_a_reason():
    no_feet = person(150)
    no_feet[no_feet == SHOES] = SKIN
    assert measure_length(no_feet, [PANTS], [SHOES]).reason.startswith("no footwear")
    assert measure_length(person(150), [99], [SHOES]).reason == "no garment pixels"
    assert measure_length(person(150, head=0), [PANTS], [SHOES]).reason == "head cut off by the frame"
    assert measure_length(person(150, sole=199), [PANTS], [SHOES]).reason == "feet cut off by the frame"
    assert measure_length(person(150), [PANTS], [SHOES]).length is not None


def test_stray_pixels_do_not_move_the_hem():
    m = person(110)
    m[170, 30] = PANTS  # one mislabelled pixel far below the real hem
    assert measure_length(m, [PANTS], [SHOES]).length == "short"


def test_buckets_are_ordered_and_cover_everything():
    uppers = [u for _, u in LENGTH_BUCKETS]
    assert uppers == sorted(uppers) and np.isinf(uppers[-1])
    assert bucket_length(-0.2) == "full" and bucket_length(0.9) == "short"


def test_real_masks_give_plausible_lengths(shared_data):
    """On real CCP masks, shorts measure shorter than jeans (ids from labels.csv)."""
    import pandas as pd

    ids = pd.read_csv(shared_data / "ccp" / "labels.csv").set_index("name")["id"]
    ann = pd.read_csv(shared_data / "ccp" / "annotations.csv", keep_default_na=False)
    pixel = ann[ann.split_source == "pixel"]
    foot = [ids[n] for n in ("shoes", "boots", "heels", "sandals", "pumps", "sneakers", "flats")]

    def heights(tag, n=12):
        rows = pixel[pixel.tags.str.split().map(lambda t: tag in t and "dress" not in t)].head(40)
        out = []
        for image in rows.image:
            mask = np.asarray(Image.open(shared_data / "ccp" / "masks" / image.replace(".jpg", ".png")))
            m = measure_length(mask, [ids[tag]], foot)
            if m.hem_height is not None:
                out.append(m.hem_height)
        return np.array(out[:n])

    shorts, jeans = heights("shorts"), heights("jeans")
    assert len(shorts) >= 8 and len(jeans) >= 8
    assert np.median(shorts) > np.median(jeans) + 0.15
    assert np.mean([bucket_length(h) in ("short", "knee") for h in shorts]) >= 0.75
    assert np.mean([bucket_length(h) in ("full", "ankle", "midi") for h in jeans]) >= 0.75
