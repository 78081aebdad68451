"""The real-Zope test infrastructure works: build, start, answer, log, stop."""

import os
import socket

import pytest

from zopeinstance import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    HOST_ECHO_PATH,
    PROTECTED_PATH,
    PUBLIC_PATH,
    access_log_path,
    process_exists,
    process_group_exists,
    recipe_parts,
    start_instance,
    stop_instance,
    wait_for_access,
    zope_missing,
)

pytestmark = pytest.mark.zope

if zope_missing():  # ./run-tests and CI: a failure, never a silent skip
    if os.environ.get("CLOCKSERVER_REQUIRE_ZOPE"):
        pytest.fail(zope_missing(), pytrace=False)
    pytest.skip(zope_missing(), allow_module_level=True)


def test_recipe_parts_lists_sections_with_a_recipe():
    cfg = """
[clock]
recipe = collective.recipe.clockserver
address = ${instance:http-address}
credentials = clock-credentials

[clock-credentials]
user = admin
password = admin
"""
    assert recipe_parts(cfg) == ["clock"]


def test_wsgi_zope_answers_logs_and_stops(zope_buildout):
    """On the session's Zope buildout (conftest.py), built by
    zopeinstance.build_zope_buildout."""
    directory = zope_buildout
    instance = start_instance(directory)
    try:
        assert instance.get(PUBLIC_PATH).status == 200

        manager = instance.get(
            PROTECTED_PATH + "?probe=manager", ADMIN_USER, ADMIN_PASSWORD
        )
        assert manager.status == 200

        anonymous = instance.get(PROTECTED_PATH + "?probe=anonymous")
        assert anonymous.status == 401
        assert anonymous.headers["www-authenticate"].lower().startswith("basic")

        wrong = instance.get(PROTECTED_PATH + "?probe=wrong", ADMIN_USER, "wrong")
        assert wrong.status == 401

        echo = instance.get(HOST_ECHO_PATH, host_header="plonecommunity.mobi")
        assert (echo.status, echo.body) == (200, b"http://plonecommunity.mobi")

        logged = wait_for_access(
            directory, lambda e: e["path"] == PROTECTED_PATH + "?probe=manager"
        )
        assert logged is not None, open(access_log_path(directory)).read()
        assert (logged["method"], logged["user"], logged["status"]) == (
            "GET",
            ADMIN_USER,
            200,
        )
        logged = wait_for_access(
            directory, lambda e: e["path"] == PROTECTED_PATH + "?probe=wrong"
        )
        assert (logged["user"], logged["status"]) == ("-", 401)
    finally:
        returncode = stop_instance(instance)

    assert returncode is not None
    assert not process_exists(instance.pid)
    assert not process_group_exists(instance.pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((instance.host, instance.port), timeout=2)


@pytest.mark.parametrize("name", ["Zope", "plone.recipe.zope2instance", "zc.buildout"])
def test_the_venv_holds_the_pinned_zope_stack(name):
    """Zope 6.3, plone.recipe.zope2instance 9.1 and zc.buildout 6.0 today
    (tests/zope-constraints.txt; the 5.2 leg: tests/buildout52-constraints.txt)."""
    import importlib.metadata

    from plonesite import pinned

    constraints = os.environ.get("CONSTRAINTS") or "zope-constraints.txt"
    assert importlib.metadata.version(name) == pinned(
        os.path.basename(constraints), name
    )
