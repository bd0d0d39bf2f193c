"""The Korean font the pages serve (fashionkit.book.fonts): the bundled NanumGothic, cleaned for browsers."""

from fontTools.ttLib import TTFont

from fashionkit.book import fonts


def test_the_web_copy_draws_hangul_and_drops_the_tables_browsers_refuse(tmp_path):
    source = TTFont(str(fonts.bundled_korean_ttf()))
    assert any(t in source for t in fonts.HINTING_SOURCES)  # else this test proves nothing
    copy = TTFont(str(fonts.write_web_font(tmp_path / "static" / "NanumGothic.ttf")))
    assert not any(t in copy for t in fonts.HINTING_SOURCES)
    cmap = copy.getBestCmap()
    assert all(ord(ch) in cmap for ch in "하의 기장")  # "bottom length", as the tables write it
