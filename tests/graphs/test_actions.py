from graphs.actions import default_registry


def registry(posted=None):
    posted = [] if posted is None else posted
    return default_registry(lambda c, t: posted.append((c, t)) or "ok", None, "bot@x")


def test_validation_is_per_parameter():
    r = registry()
    assert r.validate("send_email", {"to": "a@b.co", "subject": "s", "body": "b"}) == {}
    errors = r.validate("send_email", {"to": "nope", "subject": "", "body": "b"})
    assert set(errors) == {"to", "subject"}
    assert "JSON" in r.validate("call_webhook", {"url": "https://x", "payload": "{"})["payload"]
    assert r.validate("post_message", {"channel": "random words", "text": "t"}).keys() == {
        "channel"
    }
    assert "action_type" in r.validate("rm_rf", {})


def test_risk_has_a_floor_the_model_cannot_lower():
    r = registry()
    assert r.risk("send_email", "low") == "medium"
    assert r.risk("send_email", "high") == "high"
    assert r.risk("check_url", "low") == "low"
    assert r.risk("unknown", "low") == "high"
    assert r.risk("check_url", "bogus") == "high"


def test_email_without_smtp_says_which_variable_to_set():
    import pytest

    with pytest.raises(RuntimeError, match="SMTP_URL"):
        registry().run("send_email", {"to": "a@b.co", "subject": "s", "body": "b"})
