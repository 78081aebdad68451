"""Rendering <clock-server> blocks and checking them with ZConfig."""

from collective.recipe.clockserver import zopeconf
from collective.recipe.clockserver.credentials import ANONYMOUS, Credentials
from collective.recipe.clockserver.model import Job

ZOPEUSER = Credentials("zopeuser", "pa$s word", "clock-credentials")


def test_render_and_check_round_trip():
    calls = [
        (Job("a", "/site/@@a?x=1&y=%20", 3600, host="h.example.org"), ZOPEUSER),
        (Job("b", "/$site/b", 90), ANONYMOUS),
    ]
    text = zopeconf.render(calls)
    assert "  password pa$$s word\n" in text
    assert "  method /$$site/b\n" in text
    assert zopeconf.check(text, calls) is None
    sections = zopeconf.parse(text)
    assert sections[0].password == "pa$s word"
    assert sections[1].user is None and sections[1].host is None


def test_check_reports_a_difference_without_the_password():
    calls = [(Job("a", "/site/a", 3600), ZOPEUSER)]
    text = zopeconf.render(calls).replace("period 3600", "period 60")
    problem = zopeconf.check(text, calls)
    assert problem == (
        "job a: ZConfig reads period differently from what was configured"
    )


def test_check_masks_the_password_in_zconfig_errors():
    calls = [(Job("a", "/site/a", 3600), ZOPEUSER)]
    text = zopeconf.render(calls).replace(
        "  password pa$$s word\n", "  password pa$s word\n"
    )  # bad $
    problem = zopeconf.check(text, calls)
    assert problem.startswith("ZConfig rejects the generated text: ")
    assert "pa$s word" not in problem
