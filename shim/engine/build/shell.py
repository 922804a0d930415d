"""Engine layer (pure): Dockerfile word processing, BuildKit's `frontend/dockerfile/shell` Lex.

A port of the lexer dockerd's classic builder uses for variable substitution in
ENV, LABEL, COPY/ADD, WORKDIR, USER, VOLUME, STOPSIGNAL, ARG, EXPOSE and FROM:
quotes (' and "), the escape token (\\ or ` per `# escape=`), `$VAR`, `${VAR}`,
`${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`,
`${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}`. `process_word` keeps spaces,
`process_words` splits into words after substitution (only EXPOSE does that).
The test tables of the Go package (tests/unit/data/build/) are run against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EOF = ""


class ShellError(ValueError):
    pass


def _is_space(ch: str) -> bool:
    return ch.isspace()


class Env:
    """EnvsFromSlice: KEY=VALUE entries, the last one of a key wins; a key without `=` is empty."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._env: dict[str, str] = {}
        for e in entries:
            k, _, v = e.partition("=")
            self._env[k] = v

    def get(self, key: str) -> tuple[str, bool]:
        if key in self._env:
            return self._env[key], True
        return "", False


class _Words:
    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if _is_space(ch) and self.in_word:
            if self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        elif not _is_space(ch):
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf.append(ch)
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.buf.append(s)
        self.in_word = True

    def get_words(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else EOF

    def next(self) -> str:
        ch = self.peek()
        if ch != EOF:
            self.pos += 1
        return ch


class Lex:
    def __init__(self, escape_token: str = "\\") -> None:
        self.escape_token = escape_token

    def process_word(self, word: str, env: Env) -> str:
        if not any(c in word for c in ("$", "<", "'", '"', self.escape_token)):
            return word  # nothing to expand or unquote: the scanner would copy it through
        return self._process(word, env)[0]

    def process_words(self, word: str, env: Env) -> list[str]:
        return self._process(word, env)[1]

    def _process(self, word: str, env: Env) -> tuple[str, list[str]]:
        sw = _ShellWord(self.escape_token, env, word)
        try:
            return sw.process_stop_on(EOF, False)
        except ShellError as e:
            raise ShellError(f"failed to process {_go_quote(word)}: {e}") from None


class _ShellWord:
    def __init__(self, escape: str, env: Env, word: str) -> None:
        self.escape = escape
        self.env = env
        self.scanner = _Scanner(word)
        self.raw_escapes = False

    def process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            while self.scanner.peek() != EOF:
                ch = self.scanner.peek()
                if stop != EOF and ch == stop:
                    self.scanner.next()
                    return "".join(result), words.get_words()
                fn = {"$": self.process_dollar, "<": self.process_possible_heredoc}.get(ch)
                if fn is None and ch == "'":
                    fn = self.process_single_quote
                elif fn is None and ch == '"':
                    fn = self.process_double_quote
                if fn is not None:
                    tmp = fn()
                    result.append(tmp)
                    if ch == "$":
                        words.add_string(tmp)
                    else:
                        words.add_raw_string(tmp)
                    continue
                ch = self.scanner.next()
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self.scanner.next()
                    if ch == EOF:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
            if stop != EOF:
                raise ShellError(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.get_words()
        finally:
            self.raw_escapes = saved

    def process_single_quote(self) -> str:
        self.scanner.next()
        out: list[str] = []
        while True:
            ch = self.scanner.next()
            if ch == EOF:
                raise ShellError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def process_double_quote(self) -> str:
        self.scanner.next()
        out: list[str] = []
        while True:
            peek = self.scanner.peek()
            if peek == EOF:
                raise ShellError("unexpected end of statement while looking for matching double-quote")
            if peek == '"':
                self.scanner.next()
                return "".join(out)
            if peek == "$":
                out.append(self.process_dollar())
                continue
            ch = self.scanner.next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.scanner.peek()
                if nxt == EOF:
                    continue  # a lone escape at the end of the word is dropped
                if nxt in ('"', "$", self.escape):
                    ch = self.scanner.next()
            out.append(ch)

    def process_dollar(self) -> str:
        self.scanner.next()
        if self.scanner.peek() != "{":
            name = self.process_name()
            if name == "":
                return "$"
            return self.env.get(name)[0]
        self.scanner.next()
        if self.scanner.peek() == EOF:
            raise ShellError("syntax error: missing '}'")
        if self.scanner.peek() in ("{", "}", ":"):
            raise ShellError("syntax error: bad substitution")
        name = self.process_name()
        ch = self.scanner.next()
        chs = ch
        null_is_unset = False
        if ch == "}":
            return self.env.get(name)[0]
        if ch == ":":
            null_is_unset = True
            ch = self.scanner.next()
            chs += ch
        if ch in ("+", "-", "?", "#", "%"):
            raw = ch in ("#", "%")
            if null_is_unset and raw:
                raise ShellError(f"unsupported modifier ({chs}) in substitution")
            try:
                word, _ = self.process_stop_on("}", raw)
            except ShellError:
                if self.scanner.peek() == EOF:
                    raise ShellError("syntax error: missing '}'") from None
                raise
            value, is_set = self.env.get(name)
            unset = not is_set or (null_is_unset and value == "")
            if ch == "-":
                return word if unset else value
            if ch == "+":
                return "" if unset else word
            if ch == "?":
                if not is_set:
                    raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            greedy = bool(word) and word[0] == ch
            if greedy:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        if ch == "/" and not null_is_unset:
            replace_all = self.scanner.peek() == "/"
            if replace_all:
                self.scanner.next()
            try:
                pattern, _ = self.process_stop_on("/", True)
            except ShellError:
                if self.scanner.peek() == EOF:
                    raise ShellError("syntax error: missing '/' in ${}") from None
                raise
            try:
                replacement, _ = self.process_stop_on("}", True)
            except ShellError:
                if self.scanner.peek() == EOF:
                    raise ShellError("syntax error: missing '}'") from None
                raise
            value, _ = self.env.get(name)
            rx = _pattern_regex(pattern, True, False)
            return rx.sub(lambda _m: replacement, value, count=0 if replace_all else 1)
        raise ShellError(f"unsupported modifier ({chs}) in substitution")

    def process_name(self) -> str:
        name: list[str] = []
        while self.scanner.peek() != EOF:
            ch = self.scanner.peek()
            if not name and ch.isdigit():
                while self.scanner.peek() != EOF and self.scanner.peek().isdigit():
                    name.append(self.scanner.next())
                return "".join(name)
            if not name and ch in "@*#?-$!0":
                return self.scanner.next()
            if not (ch.isalpha() or ch.isdigit() or ch == "_"):
                break
            name.append(self.scanner.next())
        return "".join(name)

    def process_possible_heredoc(self) -> str:
        self.scanner.next()
        if self.scanner.peek() != "<":
            return "<"
        self.scanner.next()
        space: list[str] = []
        while self.scanner.peek() in ("\t", "\r", " ") and self.scanner.peek() != EOF:
            space.append(self.scanner.next())
        return "<<" + "".join(space)


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """convertShellPatternToRegex: ? one char, * shortest (or longest) run; no bracket expressions."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
            continue
        if tok == "?":
            out.append(".")
            continue
        if tok == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise ShellError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            out.append(re.escape(nxt))
            continue
        out.append(re.escape(tok))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(word: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(word, greedy, True).search(value)
    return value[m.end() :] if m else value


def _reverse_pattern(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            out.insert(0, pattern[i : i + 2])
            i += 2
        else:
            out.insert(0, pattern[i])
            i += 1
    return "".join(out)


def _trim_suffix(pattern: str, word: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), word[::-1], greedy)[::-1]


def _go_quote(s: str) -> str:
    """Go's %q for the strings we quote in messages (ASCII-printable ones are the common case)."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
    out.append('"')
    return "".join(out)


def go_quote(s: str) -> str:
    return _go_quote(s)
