"""Credentials from a buildout section (normally in secret.cfg), and hygiene checks."""

import dataclasses
import os
import shutil
import stat
import subprocess

from .errors import ConfigError

# Python 2's base64.encodestring wraps after 76 characters, i.e. 57 bytes
# of input: ZServer's clock server then sends a broken Authorization header.
ZSERVER_MAX_AUTH_BYTES = 57


@dataclasses.dataclass(frozen=True)
class Credentials:
    """A user and password, or neither (anonymous)."""

    user: str | None = None
    password: str | None = None
    section: str | None = None
    source: str | None = None  # the file that set the password, if known

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
        "    [%s]\n    user = zopeuser\n    password = <the password>\n"
        % section
    )


def read(sections, name, option="credentials", line=None):
    """Read ``user`` and ``password`` from the section called ``name``.

    ``sections`` is the buildout (a mapping of section name to options).
    ``option``/``line`` say where the section was named, for messages.
    """
    where = line if line is not None else name
    if name not in sections:
        raise ConfigError(
            option, where,
            "the credentials section [%s] is not defined" % name,
            snippet(name),
        )
    section = sections[name]
    user = section.get("user", "").strip() or None
    password = section.get("password", "").strip() or None
    if not user and not password:
        raise ConfigError(
            option, where,
            "the credentials section [%s] has neither user nor password" % name,
            snippet(name),
        )
    if not password:
        raise ConfigError(
            option, where,
            "the credentials section [%s] has a user but no password" % name,
            "Add 'password = ...' to [%s], or remove the user to run the "
            "jobs anonymously." % name,
        )
    if not user:
        raise ConfigError(
            option, where,
            "the credentials section [%s] has a password but no user" % name,
            "Add 'user = ...' to [%s]." % name,
        )
    if ":" in user:
        raise ConfigError(
            option, where,
            "the user %r in [%s] contains ':'" % (user, name),
            "HTTP Basic authentication cannot carry a ':' in the user name; "
            "use another Zope user.",
        )
    if "\n" in user or "\n" in password:
        raise ConfigError(
            option, where,
            "user and password in [%s] must be single lines" % name,
            "Write each on one line.",
        )
    return Credentials(user, password, name, source_of(sections, name))


def source_of(sections, name, key="password"):
    """The file that set ``[name] key``, or None when buildout does not say."""
    annotated = getattr(sections, "_annotated", None) or {}
    try:
        source = annotated[name][key].source
    except (KeyError, AttributeError, TypeError):
        return None
    if isinstance(source, str) and os.path.isfile(source):
        return os.path.abspath(source)
    return None


def check_zserver_length(credentials, option, line):
    """ZServer (Python 2) breaks Basic auth for user:password over 57 bytes."""
    if credentials.anonymous:
        return
    size = len(("%s:%s" % (credentials.user, credentials.password)).encode())
    if size > ZSERVER_MAX_AUTH_BYTES:
        raise ConfigError(
            option, line,
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


def tracked_by_git(path):
    git = shutil.which("git")
    if git is None:
        return False
    directory, filename = os.path.split(os.path.abspath(path))
    try:
        result = subprocess.run(
            [git, "ls-files", "--error-unmatch", "--", filename],
            cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0
