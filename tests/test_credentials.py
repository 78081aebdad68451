"""Credentials sections and the checks around them."""

import os
import subprocess

import pytest

from collective.recipe.clockserver import credentials as creds
from collective.recipe.clockserver.errors import ConfigError


def test_read_and_never_show_the_password():
    found = creds.read({"s": {"user": "zopeuser", "password": "pw"}}, "s")
    assert (found.user, found.password, found.section) == ("zopeuser", "pw", "s")
    assert not found.anonymous
    assert "pw" not in repr(found)


@pytest.mark.parametrize("password, ok", [("x" * 48, True), ("x" * 49, False)])
def test_zserver_limit_is_57_bytes_of_user_colon_password(password, ok):
    found = creds.Credentials("zopeuser", password, "s")  # 9 + len(password)
    if ok:
        creds.check_zserver_length(found, "jobs", "/a 1h")
    else:
        with pytest.raises(ConfigError) as info:
            creds.check_zserver_length(found, "jobs", "/a 1h")
        assert "is 58 bytes" in info.value.problem


def test_zserver_limit_counts_bytes_not_characters():
    found = creds.Credentials("zopeuser", "é" * 25, "s")  # 9 + 50 bytes
    with pytest.raises(ConfigError):
        creds.check_zserver_length(found, "jobs", "/a 1h")


def test_hygiene_warnings(tmp_path):
    secret = tmp_path / "secret.cfg"
    secret.write_text("[s]\nuser = u\npassword = p\n")
    os.chmod(secret, 0o600)
    assert creds.hygiene_warnings(str(secret)) == []
    os.chmod(secret, 0o640)
    (warning,) = creds.hygiene_warnings(str(secret))
    assert "readable by group or others (mode 640)" in warning
    assert "chmod 600 %s" % secret in warning
    os.chmod(secret, 0o600)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "secret.cfg"], cwd=tmp_path, check=True)
    (warning,) = creds.hygiene_warnings(str(secret))
    assert "tracked by git" in warning
    assert "git rm --cached %s" % secret in warning
