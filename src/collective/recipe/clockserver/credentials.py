"""Credentials from a buildout section (normally in secret.cfg), and hygiene checks."""

from __future__ import absolute_import, division, print_function

import os
import re
import shutil
import stat
import subprocess
import time

from . import values
from .buildoutcompat import annotated
from .errors import ConfigError
from .slotvalue import SlotValue

# Python 2's base64.encodestring wraps after 76 characters, i.e. 57 bytes
# of input: ZServer's clock server then sends a broken Authorization header.
ZSERVER_MAX_AUTH_BYTES = 57


class Credentials(SlotValue):
    """A user and password, or neither (anonymous).  Treat as immutable."""

    __slots__ = ("user", "password", "section", "source", "sources")

    def __init__(self, user=None, password=None, section=None, source=None, sources=()):
        self.user = user
        self.password = password
        self.section = section
        self.source = source  # the file that holds the password, if known
        self.sources = sources  # every file that holds part of it (references)

    def __repr__(self):  # never show the password in a traceback or log
        return "Credentials(user=%r, section=%r)" % (self.user, self.section)

    @property
    def anonymous(self):
        return not (self.user and self.password)


ANONYMOUS = Credentials()


def snippet(section):
    return (
        "Create it in secret.cfg (chmod 600, never committed), which "
        "production.cfg extends:\n\n"
        "    [%s]\n    user = zopeuser\n    password = <the password>\n" % section
    )


def check_defined(sections, name, option="credentials", line=None):
    """Raise ConfigError (with the snippet) unless section ``name`` exists;
    without reading it."""
    if name not in sections.keys():
        raise ConfigError(
            option,
            line if line is not None else name,
            "the credentials section [%s] is not defined" % name,
            snippet(name),
        )


def read(sections, name, option="credentials", line=None):
    """Read ``user`` and ``password`` from the section called ``name``.

    ``sections`` is the buildout (a mapping of section name to options).
    ``option``/``line`` say where the section was named, for messages.
    """
    where = line if line is not None else name
    # keys(), not ``in``: buildout's ``in`` reads the section, and a
    # reference in it to a missing section (``${nosuch:user}``) would look
    # like a missing credentials section. Reading it below lets buildout
    # report that reference itself, naming ``nosuch``.
    check_defined(sections, name, option, line)
    section = sections[name]
    user = section.get("user", "").strip() or None
    password = section.get("password", "").strip() or None
    if not user and not password:
        raise ConfigError(
            option,
            where,
            "the credentials section [%s] has neither user nor password" % name,
            snippet(name),
        )
    if not password:
        raise ConfigError(
            option,
            where,
            "the credentials section [%s] has a user but no password" % name,
            "Add 'password = ...' to [%s], or remove the user to run the "
            "jobs anonymously." % name,
        )
    if not user:
        raise ConfigError(
            option,
            where,
            "the credentials section [%s] has a password but no user" % name,
            "Add 'user = ...' to [%s]." % name,
        )
    if ":" in user:
        raise ConfigError(
            option,
            where,
            "the user %r in [%s] contains ':'" % (user, name),
            "HTTP Basic authentication cannot carry a ':' in the user name; "
            "use another Zope user.",
        )
    if "\n" in user or "\n" in password:
        raise ConfigError(
            option,
            where,
            "user and password in [%s] must be single lines" % name,
            "Write each on one line.",
        )
    for key, value in (("user", user), ("password", password)):
        if values.has_control(value):  # bin/<part> refuses them (a header)
            raise ConfigError(
                option,
                where,
                "the %s in [%s] holds a control character" % (key, name),
                "HTTP headers cannot carry control characters; remove it.",
            )
    sources = sources_of(sections, name)
    return Credentials(
        user, password, name, sources[0] if sources else None, tuple(sources)
    )


def sections_named(jobs, part_section):
    """(section, option, line) of every credentials section named: the
    part's ``credentials`` and the jobs' ``credentials=``."""
    if part_section:
        yield part_section, "credentials", part_section
    for job in jobs:
        if job.credentials:
            yield job.credentials, "jobs", job.line


def pair(sections, jobs, part_section, backend, warnings):
    """[(job, Credentials)]: each job with its own section's credentials
    or the part's; the hygiene warnings of their files go to ``warnings``."""
    cache = {}
    if part_section:  # read even when every job has its own
        cache[part_section] = read(sections, part_section, "credentials", part_section)
    calls = []
    for job in jobs:
        if job.credentials:
            section, option, line = job.credentials, "jobs", job.line
        else:
            section, option, line = part_section, "credentials", part_section
        if section is None:
            found = ANONYMOUS
        elif section in cache:
            found = cache[section]
        else:
            found = cache[section] = read(sections, section, option, line)
        if backend == "zserver":
            check_zserver_length(found, option, line)
        calls.append((job, found))
    sources = {
        path for c in cache.values() for path in (c.sources or [c.source]) if path
    }
    for source in sorted(sources):
        warnings.extend(hygiene_warnings(source))
    return calls


_REFERENCE = re.compile(r"\$\{([^}:]*):([^}]*)\}")


def sources_of(sections, name, key="password", seen=None):
    """The files that hold the text of ``[name] key``, as buildout's
    annotations (its record of where each option came from) say.

    A value that only refers to other options (``password =
    ${world:password}``) is followed to the files that define those; a
    section built with ``<=`` is followed to its base sections. Empty when
    buildout does not say.
    """
    seen = set() if seen is None else seen
    if (name, key) in seen:
        return []
    seen.add((name, key))
    try:
        section = annotated(sections)[name]
    except (KeyError, TypeError):
        return []
    entry = section.get(key) if hasattr(section, "get") else None
    if entry is None:  # maybe inherited: [creds] <= base
        bases = (
            getattr(section.get("<"), "value", "") if hasattr(section, "get") else ""
        )
        found = []
        for base in (bases or "").split():
            found += sources_of(sections, base, key, seen)
        return _unique(found)
    value = getattr(entry, "value", "")
    source = getattr(entry, "source", None)
    found = []
    literal = _REFERENCE.sub("", value.replace("$$", "")).strip()
    if literal and isinstance(source, str) and os.path.isfile(source):
        found.append(os.path.abspath(source))
    for section_name, option in _REFERENCE.findall(value):
        found += sources_of(sections, section_name or name, option, seen)
    return _unique(found)


def _unique(paths):
    return list(dict.fromkeys(paths))


def check_zserver_length(credentials, option, line):
    """ZServer (Python 2) breaks Basic auth for user:password over 57 bytes."""
    if credentials.anonymous:
        return
    pair = "%s:%s" % (credentials.user, credentials.password)
    size = len(pair if isinstance(pair, bytes) else pair.encode("utf-8"))
    if size > ZSERVER_MAX_AUTH_BYTES:
        raise ConfigError(
            option,
            line,
            "user:password from [%s] is %d bytes; ZServer's clock server "
            "breaks Basic authentication above %d bytes"
            % (credentials.section, size, ZSERVER_MAX_AUTH_BYTES),
            "Use a shorter user name or password for the clock user, or the "
            "runner backend (WSGI Zope), which has no such limit.",
        )


def hygiene_warnings(path):
    """Warnings about the file that holds a password: mode and git."""
    warnings = []
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return warnings
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(
            "%s holds a password and is readable by group or others "
            "(mode %03o); run: chmod 600 %s" % (path, stat.S_IMODE(mode), path)
        )
    if tracked_by_git(path):
        warnings.append(
            "%s holds a password and is tracked by git; run: git rm --cached "
            "%s, and add it to .gitignore" % (path, path)
        )
    return warnings


def _which(program):
    which = getattr(shutil, "which", None)
    if which is None:  # Python 2
        from distutils.spawn import find_executable as which
    return which(program)


def tracked_by_git(path):
    git = _which("git")
    if git is None:
        return False
    directory, filename = os.path.split(os.path.abspath(path))
    try:
        with open(os.devnull, "wb") as null:
            process = subprocess.Popen(
                [git, "ls-files", "--error-unmatch", "--", filename],
                cwd=directory,
                stdout=null,
                stderr=null,
            )
    except OSError:
        return False
    deadline = time.time() + 10
    while process.poll() is None:
        if time.time() > deadline:
            process.kill()
            process.wait()
            return False
        time.sleep(0.01)
    return process.returncode == 0
