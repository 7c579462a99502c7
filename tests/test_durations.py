import pytest

from bot.config.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("4h", 14400), ("2d", 172800), (" 4H ", 14400)],
)
def test_parses_every_documented_form(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "4x", "-5m", "1.5h", "4 hours"])
def test_rejects_other_forms_naming_the_text(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(86400, "24h"), (90, "90s"), (900, "15m"), (259200, "3d")]
)
def test_formats_shortest_exact_form(seconds, text):
    assert format_duration(seconds) == text
