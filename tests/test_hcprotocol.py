"""healthchecks.io's ping protocol (runner/hcprotocol.py): URLs with run
ids and exit statuses, query strings kept, the final body bounded."""

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collective.recipe.clockserver.runner import hcprotocol as hc

RID = "0f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"


@pytest.mark.parametrize(
    "base, event, url",
    [
        (
            "https://hc-ping.com/abc",
            "start",
            "https://hc-ping.com/abc/start?rid=" + RID,
        ),
        ("https://hc-ping.com/abc/", "success", "https://hc-ping.com/abc?rid=" + RID),
        ("https://hc-ping.com/abc", "fail", "https://hc-ping.com/abc/fail?rid=" + RID),
        ("https://hc-ping.com/abc", 0, "https://hc-ping.com/abc/0?rid=" + RID),
        ("https://hc-ping.com/abc", 143, "https://hc-ping.com/abc/143?rid=" + RID),
        (
            "https://hc-ping.com/key/backup?create=1",
            "start",
            "https://hc-ping.com/key/backup/start?create=1&rid=" + RID,
        ),
        (
            "http://hc.example:8000/ping/abc?create=1",
            "fail",
            "http://hc.example:8000/ping/abc/fail?create=1&rid=" + RID,
        ),
    ],
)
def test_ping_urls(base, event, url):
    assert hc.ping_url(base, event, RID) == url


def test_unknown_event_and_no_rid():
    with pytest.raises(ValueError):
        hc.ping_url("https://hc-ping.com/abc", "log")
    assert (
        hc.ping_url("https://hc-ping.com/abc", "fail") == "https://hc-ping.com/abc/fail"
    )


def test_run_ids_are_uuids():
    first, second = hc.run_id(), hc.run_id()
    assert first != second and uuid.UUID(first).version == 4


def test_final_event():
    assert hc.final_event(True) == "success"
    assert hc.final_event(False) == "fail"
    assert hc.final_event(False, 143) == "143"
    assert hc.final_event(True, 0) == "0"


def test_final_body_reason_then_output_tail_masked():
    body = hc.final_body(
        "503 Service\nUnavailable", "line 1\npassword s3cret\nlast\n", ("s3cret",)
    )
    assert body == b"503 Service Unavailable\nline 1\npassword *****\nlast\n"


def test_final_body_is_cut_at_a_line_start():
    output = "".join("line %05d\n" % n for n in range(5000))
    body = hc.final_body("exit status 1", output)
    assert len(body) <= hc.MAX_BODY
    assert body.startswith(b"exit status 1\nline ")
    assert body.endswith(b"line 04999\n")
    assert body.split(b"\n")[1].startswith(b"line ")  # a whole line


@settings(max_examples=200, deadline=None)
@given(reason=st.text(max_size=12_000), output=st.text(max_size=30_000))
def test_final_body_is_bounded_utf8(reason, output):
    body = hc.final_body(reason, output)
    assert len(body) <= hc.MAX_BODY
    body.decode("utf-8")  # never a split character


def test_final_body_with_undecodable_output():
    body = hc.final_body("failed \udcff", "out \udcfe\n")
    assert body == b"failed ?\nout ?\n"
