from bot.slack.blocks.text import chunks, escape, quote, truncate


def test_escape_defuses_links_mentions_and_broadcasts():
    out = escape("<!channel> <@U123> @here @Everyone a&b <https://evil|x>")
    assert "<" not in out and ">" not in out
    assert "&lt;!channel&gt;" in out
    assert "@here" not in out and "@Everyone" not in out
    assert "a&amp;b" in out


def test_truncate_marks_the_cut():
    assert truncate("abc", 5) == ("abc", False)
    text, cut = truncate("a" * 10, 5)
    assert cut and len(text) == 5 and text.endswith("…")


def test_chunks_cover_everything_within_size_and_never_split_an_entity():
    text = escape("x<" * 4000)
    pieces = chunks(text, 2900)
    assert "".join(pieces) == text
    assert all(len(p) <= 2900 for p in pieces)
    assert all(not p.endswith(("&", "&l", "&lt")) for p in pieces)


def test_quote_fits_a_section_even_for_hostile_text():
    body, cut = quote("<" * 30000)
    assert cut and len(body) <= 3000
