"""Build script for the setuptools of Python 2.7 buildouts.

setuptools 61 and later read the metadata from pyproject.toml and get no
keyword here. The setuptools 44 of a Python 2.7 zc.buildout 2.13 (or pip 20)
cannot read pyproject.toml: for it the same metadata is given below.
tests/test_wheel.py checks that both say the same.
"""

import io
import os
import re
import sys

from setuptools import __version__ as setuptools_version
from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read(name):
    with io.open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


METADATA = {
    "name": "collective.recipe.clockserver",
    "version": "1.0.0.dev0",
    "description": (
        "zc.buildout recipe: periodic Zope jobs as <clock-server> blocks, "
        "crontab entries or a WSGI clock, with credentials kept in secret.cfg"
    ),
    "license": "ZPL-2.1",
    "python_requires": (
        ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*, !=3.5.*, "
        "!=3.6.*, !=3.7.*, !=3.8.*, !=3.9.*"
    ),
    "install_requires": [
        'setuptools; python_version >= "3"',
        'setuptools < 45; python_version < "3"',
        'zc.buildout >= 3; python_version >= "3"',
        'zc.buildout >= 2.13, < 4; python_version < "3"',
        'zc.recipe.egg >= 2.0.7; python_version >= "3"',
        'zc.recipe.egg >= 2.0.7, < 3; python_version < "3"',
        "z3c.recipe.usercrontab >= 1.5",
        'ZConfig >= 3.5; python_version >= "3"',
        'ZConfig >= 3.5, < 4; python_version < "3"',
        'cronsim >= 2.6; python_version >= "3"',
    ],
    "extras_require": {
        "test": ["pytest", "hypothesis", "prometheus_client", "ruff"],
        "postgresql": ['psycopg[binary] >= 3.1; python_version >= "3"'],
        "redis": ['redis >= 4.2; python_version >= "3"'],
        "zeo": ['ZEO >= 5.2; python_version >= "3"'],
    },
    "entry_points": {
        "console_scripts": [
            "clockserver-convert = collective.recipe.clockserver.convert:main"
        ],
        "zc.buildout": ["default = collective.recipe.clockserver.recipe:Recipe"],
        "zc.buildout.uninstall": [
            "default = collective.recipe.clockserver.recipe:uninstall"
        ],
    },
}


# bin/<part> (runner/) and clockserver-convert (convert/) are Python 3 only, and the recipe never imports it on
# Python 2: built there (zc.buildout 2.13 from the sdist), it is left out,
# also as package data, so that byte-compiling prints no SyntaxError for
# its f-strings. package_data names the one data file.
PYTHON2 = sys.version_info[0] < 3
PYTHON3_ONLY = (
    [
        "collective.recipe.clockserver.runner",
        "collective.recipe.clockserver.runner.*",
        "collective.recipe.clockserver.convert",
    ]
    if PYTHON2
    else []
)


def old_setuptools():
    """True for a setuptools that cannot read pyproject.toml's [project]."""
    major = re.match(r"\d+", setuptools_version)
    return major is None or int(major.group()) < 61


def main():
    if not old_setuptools():
        setup()
        return
    # No trailing comma after **kwargs in a call: a SyntaxError on 2.7.
    options = dict(
        METADATA,
        long_description=read("README.rst") + "\n\n" + read("CHANGES.rst"),
        long_description_content_type="text/x-rst",
        package_dir={"": "src"},
        packages=find_packages("src", exclude=PYTHON3_ONLY),
        package_data={"collective.recipe.clockserver": ["*.xml"]},
        include_package_data=not PYTHON2,
        zip_safe=False,
    )
    setup(**options)


if __name__ == "__main__":
    main()
