"""Engine layer (pure): `.dockerignore`, as moby/patternmatcher and patternmatcher/ignorefile read it.

Patterns are Go `filepath.Match` globs with `**` (any number of directories), `!`
exceptions, later lines winning; a pattern that matches a directory excludes
everything below it unless an exception brings it back.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re

_ESCAPE = set(".+()|{}$")


def go_clean(path: str) -> str:
    """Go's filepath.Clean: '' is '.', no trailing slash, a single leading slash kept."""
    if not path:
        return "."
    rooted = path.startswith("/")
    clean = posixpath.normpath(path)
    if rooted and clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    return clean


def read_ignore_file(text: str) -> list[str]:
    """ignorefile.ReadAll: comments, blank lines, `!`, Clean, a leading `/` dropped."""
    out: list[str] = []
    for n, raw in enumerate(text.splitlines()):
        line = raw.removeprefix("\ufeff") if n == 0 else raw
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


@dataclasses.dataclass(slots=True)
class _Pattern:
    cleaned: str
    exclusion: bool
    dirs: list[str]
    kind: str = ""  # exact | prefix | suffix | regexp
    rx: re.Pattern[str] | None = None

    def compile(self) -> None:
        reg = "^"
        kind = "exact"
        p = self.cleaned
        i = 0
        first = True
        while i < len(p):
            ch = p[i]
            i += 1
            if ch == "*":
                if i < len(p) and p[i] == "*":
                    i += 1
                    if i < len(p) and p[i] == "/":
                        i += 1
                    if i >= len(p):
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            reg += ".*"
                            kind = "regexp"
                    else:
                        reg += "(.*/)?"
                        kind = "regexp"
                    if first:
                        kind = "suffix"
                else:
                    reg += "[^/]*"
                    kind = "regexp"
            elif ch == "?":
                reg += "[^/]"
                kind = "regexp"
            elif ch in _ESCAPE:
                reg += "\\" + ch
            elif ch == "\\":
                if i < len(p):
                    reg += "\\" + p[i]
                    i += 1
                    kind = "regexp"
                else:
                    reg += "\\\\"
            elif ch in "[]":
                reg += ch
                kind = "regexp"
            else:
                reg += ch
            first = False
        if kind == "regexp":
            try:
                self.rx = re.compile(reg + "$", re.DOTALL)
            except re.error as e:
                raise ValueError(f"syntax error in pattern: {self.cleaned}") from e
        self.kind = kind

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.cleaned
        if self.kind == "prefix":
            return path.startswith(self.cleaned[:-2])
        if self.kind == "suffix":
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        return bool(self.rx and self.rx.match(path))


class PatternMatcher:
    """patternmatcher.New + Matches / MatchesOrParentMatches."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            p = raw.strip()
            if not p:
                continue
            p = go_clean(p)
            exclusion = p[0] == "!"
            if exclusion:
                if len(p) == 1:
                    raise ValueError('illegal exclusion pattern: "!"')
                p = p[1:]
            pat = _Pattern(cleaned=p, exclusion=exclusion, dirs=p.split("/"))
            pat.compile()
            self.patterns.append(pat)

    @property
    def exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def matches(self, file: str) -> bool:
        """The file or its parent at the pattern's depth matches (what the CLI uses to pick files)."""
        return self._matches(file, any_parent=False)

    def matches_or_parent_matches(self, file: str) -> bool:
        """The file or any of its parents matches (moby's MatchesOrParentMatches)."""
        return self._matches(file, any_parent=True)

    def _matches(self, file: str, *, any_parent: bool) -> bool:
        file = go_clean(file)
        if file == ".":
            return False
        parent = posixpath.dirname(file) or "."
        parent_dirs = parent.split("/")
        matched = False
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue
            m = pat.match(file)
            if not m and parent != "." and any_parent:
                m = any(pat.match("/".join(parent_dirs[: i + 1])) for i in range(len(parent_dirs)))
            elif not m and parent != "." and len(pat.dirs) <= len(parent_dirs):
                m = pat.match("/".join(parent_dirs[: len(pat.dirs)]))
            if m:
                matched = not pat.exclusion
        return matched
