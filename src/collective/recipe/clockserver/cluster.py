"""The options ``lock``, ``lock-credentials`` and ``lock-namespace`` -> model.Lock.

Pure: reads a mapping of sections, raises ConfigError, returns a
model.Lock (its URL parsed once, by lockurl.py) whose ``to_json()`` goes
into bin/<part>'s mode-0600 JSON file (the only place the lock password
is written).
"""

from __future__ import absolute_import, division, print_function

import unicodedata

from . import credentials as creds
from .errors import ConfigError
from .lockurl import BadLockURL, mask, parse_url
from .model import Lock

MAX_NAMESPACE = 200


def read(sections, part, options, warnings, credentials=True):
    """The part's model.Lock, or None without ``lock``.

    ``credentials=False`` (a disabled part) checks the URL and namespace but
    does not read the lock-credentials section."""
    text = options.get("lock", "").strip()
    section = options.get("lock-credentials", "").strip() or None
    namespace = options.get("lock-namespace", "").strip()
    if not text:
        for name in ("lock-credentials", "lock-namespace"):
            if options.get(name, "").strip():
                warnings.append("%s has no effect without lock" % name)
        return None
    try:
        url = parse_url(text)
    except BadLockURL as e:
        raise ConfigError("lock", mask(text), e.problem, e.fix)
    user = password = None
    if section and credentials:
        user, password = read_credentials(sections, section, url.engine)
        if password:  # every file that holds it, through ${...} too
            for source in creds.sources_of(sections, section):
                warnings.extend(creds.hygiene_warnings(source))
    if namespace:
        check_namespace(namespace)
    elif credentials:
        namespace = part
        warnings.append(
            "lock-namespace is not set: the part name %r names these jobs in "
            "the lock service %s; two sites that share the service must not "
            "share a namespace: set lock-namespace = <your site's name>"
            % (part, url.text)
        )
    return Lock(url, namespace, user, password)


def check_namespace(namespace):
    text = namespace  # characters, not bytes (buildout 2 hands in bytes)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if len(text) > MAX_NAMESPACE or any(
        c.isspace() or unicodedata.category(c)[0] in "CZ"  # not printable
        for c in text
    ):
        raise ConfigError(
            "lock-namespace",
            namespace,
            "a namespace is one word of at most %d characters" % MAX_NAMESPACE,
            "Write the site's name, e.g. lock-namespace = plonecommunity.",
        )


def snippet(section, engine):
    if engine == "postgresql":
        body = (
            "user = clock\npassword = <the password>\n"
            "# or only the user: libpq then reads ~/.pgpass"
        )
    elif engine == "redis":
        body = "password = <the password>\n# user = clock  (only for a Redis ACL user)"
    else:
        body = "user = ...\npassword = ..."
    return (
        "Create it in secret.cfg (chmod 600, never committed), which "
        "production.cfg extends:\n\n    [%s]\n    %s\n"
        % (section, body.replace("\n", "\n    "))
    )


def read_credentials(sections, section, engine):
    """(user, password) from ``section`` by the engine's rules."""
    if engine == "zeo":
        raise ConfigError(
            "lock-credentials",
            section,
            "a ZEO server has no users or passwords",
            "Remove lock-credentials; keep the ZEO server on a private "
            "address (or a Unix socket), as for the site's own storage.",
        )
    if section not in sections.keys():  # not ``in``: see credentials.read
        raise ConfigError(
            "lock-credentials",
            section,
            "the lock-credentials section [%s] is not defined" % section,
            snippet(section, engine),
        )
    values = sections[section]
    user = values.get("user", "").strip() or None
    password = values.get("password", "").strip() or None
    if not user and not password:
        raise ConfigError(
            "lock-credentials",
            section,
            "the lock-credentials section [%s] has neither user nor password" % section,
            snippet(section, engine),
        )
    if "\n" in (user or "") or "\n" in (password or ""):
        raise ConfigError(
            "lock-credentials",
            section,
            "user and password in [%s] must be single lines" % section,
            "Write each on one line.",
        )
    if engine == "postgresql" and password and not user:
        raise ConfigError(
            "lock-credentials",
            section,
            "the lock-credentials section [%s] has a password but no user" % section,
            "Add 'user = ...' to [%s]: PostgreSQL needs the role the "
            "password belongs to." % section,
        )
    if engine == "redis" and user and not password:
        raise ConfigError(
            "lock-credentials",
            section,
            "the lock-credentials section [%s] has a user but no password" % section,
            "Add 'password = ...' to [%s]: Redis authenticates a user by "
            "password (without a user, the password is requirepass's)." % section,
        )
    return user, password
