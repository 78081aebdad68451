"""Masking hides the secret part of a ping URL, not what identifies it (issue 17).

In healthchecks' forms (``https://hc-ping.com/<uuid>``,
``.../<ping-key>/<slug>``, self-hosted ``https://host/ping/<uuid>``) and
with key-like query parameters, recorded output, the records' reasons and
``status`` show the host and the slug, never the UUID or the ping key.
Hypothesis writes the URLs; one real ``bin/<part> exec`` prints them.
"""

import base64
import json
import subprocess
import sys

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from collective.recipe.clockserver.runner.config import parse_config
from collective.recipe.clockserver.runner.records import tail
from collective.recipe.clockserver.runner.text import mask_ping_url, ping_secrets

HOSTS = st.one_of(
    st.sampled_from(
        [
            "hc-ping.com",
            "hc.example.org",
            "checks.intra:8000",
            "[::1]:8000",
            "127.0.0.1",
        ]
    ),
    st.from_regex(r"[a-z]{3,10}\.example\.(org|net)", fullmatch=True),
)
PING_KEYS = st.binary(min_size=16, max_size=16).map(
    lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
)
SLUGS = st.from_regex(r"[a-z][a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}", fullmatch=True)
SUFFIXES = st.sampled_from(["", "/start", "/fail", "/0", "/1", "/log"])
QUERY_KEYS = st.sampled_from(["token", "key", "api_key", "apikey", "secret", "auth"])


@st.composite
def ping_urls(draw):
    """(url, secrets that must not show, parts that must show)."""
    host = draw(HOSTS)
    scheme = draw(st.sampled_from(["https", "http"]))
    prefix = draw(st.sampled_from(["", "/ping"])) if host != "hc-ping.com" else ""
    form = draw(st.sampled_from(["uuid", "slug", "query"]))
    create = draw(st.sampled_from(["", "?create=1"]))
    if form == "uuid":
        secret = str(draw(st.uuids()))
        return f"{scheme}://{host}{prefix}/{secret}", [secret], [host]
    if form == "slug":
        key, slug = draw(PING_KEYS), draw(SLUGS)
        assume(slug not in key and key not in host)
        return f"{scheme}://{host}{prefix}/{key}/{slug}{create}", [key], [host, slug]
    value = draw(PING_KEYS)
    name = draw(QUERY_KEYS)
    path = draw(st.sampled_from(["/ping", "/api/heartbeat", "/hb"]))
    return f"{scheme}://{host}{path}?{name}={value}", [value], [host, f"{name}="]


def config_with(url):
    return parse_config(
        {
            "part": "clock",
            "address": "127.0.0.1:8080",
            "jobs": [],
            "entries": [{"name": "backup", "times": "0 3 * * *"}],
            "pings": {"backup": url},
        }
    )


@settings(max_examples=600, deadline=None)
@given(ping_urls(), SUFFIXES)
def test_the_secret_is_masked_and_what_identifies_is_kept(found, suffix):
    url, secrets, kept = found
    shown = "curl -fsS %s%s\nsent %s\n" % (url, suffix, url)
    masked = tail(shown.encode(), config_with(url).secrets)
    for secret in secrets:
        assert secret not in masked, (url, masked)
    for part in kept:
        assert part in masked, (url, masked)
    assert "*****" in masked
    once = mask_ping_url(url)
    assert all(secret not in once for secret in secrets)
    assert all(part in once for part in kept)


@given(ping_urls())
def test_a_slug_is_never_a_secret(found):
    url, secrets, kept = found
    assert set(ping_secrets(url)) >= set(secrets)
    assert not set(ping_secrets(url)) & set(kept[1:])


def test_exec_records_the_output_with_the_key_masked(tmp_path):
    key, slug = "fqOOd6-F4MMNuCEnzTU01w", "nightly-backup"
    url = f"https://hc-ping.com/{key}/{slug}"
    uuid_url = "https://hc.example.org/ping/0b5e55ed-1f0c-4c4e-9d6c-2a4a1d6b7e01"
    path = tmp_path / "clock.json"
    path.write_text(
        json.dumps(
            {
                "part": "clock",
                "address": "127.0.0.1:1",
                "jobs": [],
                "entries": [
                    {"name": "backup", "times": "0 3 * * *"},
                    {"name": "other", "times": "0 4 * * *"},
                ],
                "state-directory": str(tmp_path / "state"),
                "pings": {
                    "backup": "http://127.0.0.1:1/unused/" + key + "/" + slug,
                    "other": uuid_url,
                },
            }
        )
    )
    path.chmod(0o600)
    runner = (
        "import sys; from collective.recipe.clockserver.runner import main; "
        "sys.exit(main(sys.argv[1], sys.argv[2:]))"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            runner,
            str(path),
            "exec",
            "backup",
            "--",
            "sh",
            "-c",
            f"echo pinging {url} and {uuid_url}; exit 3",
        ],
        capture_output=True,
        timeout=60,
    )
    status, as_json = (
        subprocess.run(
            [sys.executable, "-c", runner, str(path), "status", argument],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        for argument in ("backup", "--json")
    )
    for text in (status, as_json):
        assert key not in text and "0b5e55ed-1f0c" not in text
    assert f"https://hc-ping.com/*****/{slug}" in status
    assert "https://hc.example.org/ping/*****" in status
