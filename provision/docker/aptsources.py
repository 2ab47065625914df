"""apt sources as data: one-line ``.list`` and deb822 ``.sources`` files parsed into entries
whose URIs compare normalised, and rewritten without one repository's entries.

A repository is its URI and the components it serves. An entry is that repository's when one
of its URIs is the repository's URI (after normalising both) and every component it names is
one of the repository's: a Debian mirror and a Docker mirror on one host name, or even under
one path, stay apart. Everything read from a host is untrusted text; nothing of it reaches a
shell or a pattern.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
LINE_WORD = re.compile(r"\S+")
FIELD = re.compile(r"([A-Za-z][A-Za-z0-9-]*):(.*)")  # a deb822 field's first line
SOURCE_NAME = re.compile(r"[A-Za-z0-9_.-]+\.(list|sources)")  # the names apt reads


def normalise(uri: str) -> tuple[str, str, int | None, str] | None:
    """``(scheme, host, port, path)`` of ``uri`` as a repository's address: scheme and host in
    lower case (``https`` and ``http`` alike), the default port dropped, credentials ignored, the
    path with ``//``, ``.`` and ``..`` resolved and no trailing ``/``; ``None`` when ``uri`` is
    no URL with a host."""
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if not scheme or not host:
        return None
    if port == DEFAULT_PORTS.get(scheme):
        port = None
    path = posixpath.normpath("/" + re.sub("/+", "/", parts.path)) if parts.path else "/"
    path = "/" + path.strip("/")  # normpath keeps a leading "//"
    return ("http" if scheme in DEFAULT_PORTS else scheme), host, port, path.rstrip("/") or "/"


def shown(uri: str) -> str:
    """``uri`` without credentials, to name it in a message."""
    key = normalise(uri)
    if key is None:
        return "an unreadable URI"
    scheme = urlsplit(uri.strip()).scheme.lower()
    host = f"[{key[1]}]" if ":" in key[1] else key[1]
    return f"{scheme}://{host}{'' if key[2] is None else f':{key[2]}'}{key[3]}"


@dataclass(frozen=True)
class Entry:
    """One entry of a sources file: what apt reads from it, and which lines hold it."""

    uris: tuple[str, ...]
    components: tuple[str, ...]
    options: dict  # lower-case option names (``trusted``, ``signed-by``) -> value
    lines: tuple[int, ...]  # indexes of its lines in the file
    uri_lines: tuple[int, ...] = ()  # deb822: the lines of its URIs field
    enabled: bool = True


def parse(path: str, text: str) -> list[Entry]:
    """The entries of the sources file ``path`` (deb822 when it ends in ``.sources``)."""
    return parse_deb822(text) if path.endswith(".sources") else parse_one_line(text)


def parse_one_line(text: str) -> list[Entry]:
    """Entries of a one-line file: ``deb [opt=value ...] URI SUITE [COMPONENT...]``; apt ends
    a line at ``#``."""
    entries = []
    for index, line in enumerate(text.split("\n")):
        words = LINE_WORD.findall(line.partition("#")[0])
        if not words or words[0] not in ("deb", "deb-src"):
            continue
        words, options = words[1:], {}
        if words and words[0].startswith("["):
            inside = []
            while words:
                word = words.pop(0)
                inside.append(word)
                if word.endswith("]"):
                    break
            options = _options(" ".join(inside)[1:].rstrip("]"))
        if len(words) >= 2:
            entries.append(Entry((words[0],), tuple(words[2:]), options, (index,)))
    return entries


def _options(text: str) -> dict:
    options = {}
    for word in text.split():
        name, equals, value = word.partition("=")
        if equals:
            options[name.rstrip("+-").lower()] = value
    return options


def parse_deb822(text: str) -> list[Entry]:
    """Entries of a deb822 file: stanzas apart by blank lines, ``#`` lines ignored, fields
    named in any case, continuation lines starting with a blank."""
    entries, stanza, lines = [], [], text.split("\n")
    for index, line in enumerate([*lines, ""]):
        if line.strip():
            stanza.append(index)
        elif stanza:
            entry = _stanza(lines, stanza)
            if entry:
                entries.append(entry)
            stanza = []
    return entries


def _stanza(lines: list[str], indexes: list[int]) -> Entry | None:
    fields: dict[str, list[str]] = {}
    where: dict[str, list[int]] = {}
    name = None
    for index in indexes:
        line = lines[index]
        if line.startswith("#"):
            continue
        match = FIELD.match(line)
        if match and not line[0].isspace():
            name = match.group(1).lower()
            fields[name], where[name] = [match.group(2)], [index]
        elif name and line[0].isspace():
            fields[name].append(line)
            where[name].append(index)
    values = {key: " ".join(value).strip() for key, value in fields.items()}
    if "uris" not in values:
        return None
    enabled = values.get("enabled", "yes").lower() not in ("no", "false", "0")
    options = {k: v for k, v in values.items() if k not in ("uris", "components", "enabled")}
    return Entry(
        tuple(values["uris"].split()),
        tuple(values.get("components", "").split()),
        options,
        tuple(indexes),
        tuple(where["uris"]),
        enabled,
    )


@dataclass(frozen=True)
class Repository:
    """A repository to find in sources: its URIs (one per distribution) and its components."""

    uris: tuple[str, ...]
    components: tuple[str, ...]
    keyring: str  # the one key file its entries may name in ``signed-by``

    def holds(self, uri: str) -> bool:
        key = normalise(uri)
        return key is not None and key in {normalise(own) for own in self.uris}

    def owns(self, entry: Entry) -> bool:
        """Whether ``entry`` (enabled) reads this repository: one of its URIs is ours and
        every component it names is ours."""
        return (
            entry.enabled
            and bool(entry.components)
            and set(entry.components) <= set(self.components)
            and any(map(self.holds, entry.uris))
        )

    def problems(self, entry: Entry) -> list[str]:
        """Why ``entry`` is dangerous beyond being a second source: unsigned, or signed by
        another key."""
        found = []
        if entry.options.get("trusted", "").lower() in ("yes", "true", "1"):
            found.append("trusted=yes: apt would accept it unsigned")
        signed_by = entry.options.get("signed-by")
        if signed_by and signed_by.split() != [self.keyring]:
            what = "a key written into it" if "BEGIN PGP" in signed_by else signed_by
            found.append(f"signed-by {what}, not {self.keyring}")
        return found


@dataclass(frozen=True)
class Removal:
    """What leaving a repository's entries out of one file does."""

    path: str
    content: str | None  # the file's new text; None: remove the file (it held nothing else)
    sentences: tuple[str, ...]  # one per entry taken out


def without(repository: Repository, path: str, text: str) -> Removal | None:
    """``path``'s text without ``repository``'s entries (commented out, or the URI left out of
    a deb822 stanza that names other URIs too); ``None`` when it holds none."""
    lines = text.split("\n")  # apt ends lines at LF alone
    entries = [entry for entry in parse(path, text) if repository.owns(entry)]
    if not entries:
        return None
    removed, commented, replaced = [], set(), {}
    for entry in entries:
        ours = [uri for uri in entry.uris if repository.holds(uri)]
        others = [uri for uri in entry.uris if not repository.holds(uri)]
        reasons = repository.problems(entry)
        why = f" ({'; '.join(reasons)})" if reasons else ""
        if others and entry.uri_lines:  # keep the stanza for the other URIs
            first, *rest = entry.uri_lines
            replaced[first] = f"URIs: {' '.join(others)}"
            replaced.update({index: None for index in rest})
            removed.append(f"take {shown(ours[0])} out of an entry in {path}{why}")
        else:
            commented.update(entry.lines)
            removed.append(f"comment out the entry of {shown(ours[0])} in {path}{why}")
    blank_or_ours = all(not line.strip() or index in commented for index, line in enumerate(lines))
    if blank_or_ours and path != "/etc/apt/sources.list":
        gone = (sentence.replace("comment out", "remove", 1) for sentence in removed)
        return Removal(path, None, (f"remove {path}: it holds nothing else", *gone))
    out = [
        replaced[index]
        if index in replaced
        else f"# {line}"
        if index in commented and not line.startswith("#")
        else line
        for index, line in enumerate(lines)
    ]
    kept = "\n".join(line for line in out if line is not None)
    return Removal(path, kept, tuple(removed))
