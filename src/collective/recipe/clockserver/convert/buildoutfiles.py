"""Buildout files read as buildout reads them, for clockserver-convert.

Python 3 only (the converter runs on 3.10+; the recipe never imports this).
Sections and options with buildout's syntax (comment lines, indented
continuation lines, ``+=`` and ``-=``), ``extends`` followed relative to the
extending file, ``<=`` macros, and ``${section:option}`` substitution
(``$$`` stops it and reaches the recipe as ``$$``). Every value remembers the assignments (file and
lines) it was made of, so that the converter can say which lines to edit.
"""

import dataclasses
import os
import re
import textwrap

_HEADER = re.compile(r"\[\s*(?P<name>[^\s#[\]:;{}]+)\s*(:[^#;]*)?\s*\]\s*([#;].*)?$")
_OPTION = re.compile(r"(?P<name>[^\s{}[\]=:]+)\s*(?P<op>[-+]?)=(?P<value>.*)$")
_REFERENCE = re.compile(r"\$\{(?P<section>[-a-zA-Z0-9 ._]*):(?P<option>[-a-zA-Z0-9 ._]+)\}")


class ReadError(Exception):
    """A buildout file cannot be read: one line that says why."""


class SubstitutionError(Exception):
    """A ``${section:option}`` that the files given do not define."""


@dataclasses.dataclass
class Assignment:
    """One ``option = value`` (or ``+=``, ``-=``) as written in a file."""

    path: str
    section: str
    option: str
    op: str  # "=", "+=" or "-="
    value: str
    first: int  # line numbers, 1-based, inclusive
    last: int


@dataclasses.dataclass
class Value:
    """An option's raw value (before substitution) and where it came from."""

    text: str
    sources: list


def _finish(text):
    if text[:1].isspace():
        text = textwrap.dedent(text.rstrip())
        text = re.sub(r"^(\s*\n)+", "", text)
    return text


def parse_file(path):
    """The assignments of one file, in order; ReadError when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ReadError("cannot read %s: %s" % (path, e)) from None
    assignments = []
    section = None
    current = None
    for number, line in enumerate(lines, 1):
        if line[:1] in ("#", ";"):
            continue
        if (not line or line[:1].isspace()) and current is not None:
            if line.strip():
                current[1].append(line.rstrip() if current[2] else line.strip())
                current[0].last = number
            elif current[2]:
                current[1].append("")
            continue
        if current is not None:
            current[0].value = _finish("\n".join(current[1]))
            current = None
        header = _HEADER.match(line)
        if header:
            section = header.group("name")
            continue
        if not line.strip():
            continue
        if line[:2] == "=>":
            line = "<part-dependencies> = " + line[2:]
        option = _OPTION.match(line)
        if section is None or option is None:
            raise ReadError("%s line %d is not buildout syntax: %r"
                            % (path, number, line))
        first = option.group("value").strip()
        assignment = Assignment(path, section, option.group("name"),
                                (option.group("op") or "") + "=", "",
                                number, number)
        current = (assignment, [first], not first)
        assignments.append(assignment)
    if current is not None:
        current[0].value = _finish("\n".join(current[1]))
    return assignments


def _apply(sections, assignment):
    options = sections.setdefault(assignment.section, {})
    old = options.get(assignment.option)
    if assignment.op == "=" or old is None:
        value = assignment.value if assignment.op != "-=" else ""
        options[assignment.option] = Value(value, [assignment])
    elif assignment.op == "+=":
        text = "\n".join(t for t in (old.text, assignment.value) if t)
        options[assignment.option] = Value(text, old.sources + [assignment])
    else:
        drop = set(assignment.value.split())
        text = "\n".join(l for l in old.text.split("\n") if l.strip() not in drop)
        options[assignment.option] = Value(text, old.sources + [assignment])


class Config:
    """The sections of one buildout: a file and everything it extends."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.files = []  # every file read, in the order buildout reads them
        self.skipped = []  # (extends entry, why it was not read)
        self.sections = {}
        for assignment in self._collect(self.path, ()):
            _apply(self.sections, assignment)
        self._macros_done = {}

    def _collect(self, path, chain):
        """The assignments of ``path`` after those of the files it extends,
        in the order buildout applies them (a later one overrides, ``+=``
        adds to what came before)."""
        if path in chain:
            raise ReadError("%s extends itself (through %s)"
                            % (path, " -> ".join(chain)))
        assignments = parse_file(path)
        if path not in self.files:
            self.files.append(path)
        extends = [a for a in assignments
                   if a.section == "buildout" and a.option == "extends"]
        found = []
        for entry in (extends[-1].value.split() if extends else []):
            if "://" in entry or "$" in entry:
                self.skipped.append((entry, "not a local file name"))
                continue
            found += self._collect(os.path.normpath(os.path.join(
                os.path.dirname(path), entry)), chain + (path,))
        return found + assignments

    def section_names(self):
        return list(self.sections)

    def options(self, section):
        """A section's raw options after ``<=`` macros: {name: Value}."""
        if section in self._macros_done:
            return self._macros_done[section]
        self._macros_done[section] = {}  # guards against macro cycles
        own = dict(self.sections.get(section, {}))
        macro = own.pop("<", None)
        result = {}
        if macro is not None:
            for name in macro.text.split():
                result.update(self.options(name))
        result.update(own)
        self._macros_done[section] = result
        return result

    def get(self, section, option, seen=()):
        """The value as a recipe sees it: ``${...}`` substituted, ``$$``
        kept (buildout does not unescape it; it only stops substitution)."""
        return self.substitute(section, self.raw(section, option), seen)

    def raw(self, section, option):
        value = self.options(section).get(option)
        if value is None:
            raise SubstitutionError("${%s:%s} is not defined in %s"
                                    % (section, option, self._files_text()))
        return value.text

    def substitute(self, section, text, seen=()):
        pieces = []
        for piece in text.split("$$"):
            pieces.append(_REFERENCE.sub(
                lambda m: self._reference(section, m, seen), piece))
        return "$$".join(pieces)

    def _reference(self, section, match, seen):
        target = match.group("section") or section
        key = (target, match.group("option"))
        if key in seen:
            raise SubstitutionError("${%s:%s} refers to itself" % key)
        if target == "buildout" and key[1] == "directory" \
                and "directory" not in self.options("buildout"):
            return os.path.dirname(self.path)
        return self.get(target, key[1], seen + (key,))

    def _files_text(self):
        return ", ".join(os.path.basename(f) for f in self.files)


def roots(paths):
    """The files given that no other file given extends (each is a buildout).

    ReadError when a file cannot be read."""
    configs = [Config(p) for p in paths]
    covered = set()
    for config in configs:
        covered.update(f for f in config.files if f != config.path)
    found = [c for c in configs if c.path not in covered]
    unique = []
    for config in found:
        if config.path not in [u.path for u in unique]:
            unique.append(config)
    return unique
