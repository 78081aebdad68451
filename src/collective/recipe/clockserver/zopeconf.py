"""``<clock-server>`` blocks for zope.conf, checked with ZConfig."""

from __future__ import absolute_import, division, print_function

import io
import os

import ZConfig

SCHEMA = os.path.join(os.path.dirname(__file__), "clock-server.xml")


def escape(value):
    """zope.conf substitutes ``$name``: a literal ``$`` is written ``$$``."""
    return value.replace("$", "$$")


def render_block(job, credentials):
    """One ``<clock-server>`` block for a Job and its Credentials."""
    lines = [
        "<clock-server>",
        "  method %s" % escape(job.method),
        "  period %d" % job.period,
    ]
    if not credentials.anonymous:
        lines.append("  user %s" % escape(credentials.user))
        lines.append("  password %s" % escape(credentials.password))
    if job.host:
        lines.append("  host %s" % escape(job.host))
    lines.append("</clock-server>")
    return "\n".join(lines) + "\n"


def render(calls):
    """The blocks for ``[(job, credentials), ...]``, each preceded by its name."""
    return "".join(
        "# %s\n%s" % (job.name, render_block(job, credentials))
        for job, credentials in calls
    )


_schema = None


def text_type(value):
    """``value`` as text: Python 2's buildout hands in byte strings (UTF-8)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def parse(text):
    """Parse zope.conf text with the clock-server schema -> list of sections."""
    global _schema
    if _schema is None:
        _schema = ZConfig.loadSchema(SCHEMA)
    config, _ = ZConfig.loadConfigFile(_schema, io.StringIO(text_type(text)))
    return config.clock_servers


def expected_values(job, credentials):
    """What ZConfig must read back from the block of ``job``."""
    anonymous = credentials.anonymous
    return {
        "method": text_type(job.method),
        "period": job.period,
        "user": None if anonymous else text_type(credentials.user),
        "password": None if anonymous else text_type(credentials.password),
        "host": text_type(job.host),
    }


def check(text, calls):
    """Parse ``text`` with ZConfig and compare it with what ``calls`` meant.

    Returns None when the text says exactly what was meant, else the
    reason (a string). Passwords are never part of the reason.
    """
    try:
        sections = parse(text)
    except ZConfig.ConfigurationError as e:
        reason = str(e)
        for _, credentials in calls:  # ZConfig may quote the offending line
            if credentials.password:
                reason = reason.replace(credentials.password, "<password>")
        return "ZConfig rejects the generated text: %s" % reason
    if len(sections) != len(calls):
        return "ZConfig reads %d blocks, expected %d" % (len(sections), len(calls))
    for section, (job, credentials) in zip(sections, calls):
        for key, value in expected_values(job, credentials).items():
            if getattr(section, key) != value:
                return (
                    "job %s: ZConfig reads %s differently from what was "
                    "configured" % (job.name, key)
                )
    return None
