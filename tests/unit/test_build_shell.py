"""BuildKit's own test tables for the Dockerfile lexer (frontend/dockerfile/shell), run against our port."""

from pathlib import Path

import pytest

from shim.engine.build.shell import Env, Lex, ShellError

DATA = Path(__file__).parent / "data" / "build"


def _env_var_cases():
    for n, line in enumerate((DATA / "envVarTest").read_text().splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        platform, source, expected = (p.strip() for p in line.strip().split("|"))
        if platform in ("A", "U"):
            yield pytest.param(source, expected, id=f"line{n}")


@pytest.mark.parametrize("source,expected", list(_env_var_cases()))
def test_env_var_table(source, expected):
    env = Env(["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="])
    lex = Lex("\\")
    if expected == "error":
        with pytest.raises(ShellError):
            lex.process_word(source, env)
    else:
        assert lex.process_word(source, env) == expected


def _words_cases():
    envs: list[str] = []
    for n, line in enumerate((DATA / "wordsTest").read_text().splitlines(), 1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            envs.append(line[3:].lstrip(" "))
            continue
        test, expected = line.split("|")
        yield pytest.param(test.strip(), expected.lstrip(" ").split(","), list(envs), id=f"line{n}")


@pytest.mark.parametrize("source,expected,envs", list(_words_cases()))
def test_words_table(source, expected, envs):
    try:
        result = Lex("\\").process_words(source, Env(envs))
    except ShellError:
        result = ["error"]
    assert result == expected


def test_escape_token_backtick():
    assert Lex("`").process_word("a`$b c\\d", Env(["b=x"])) == "a$b c\\d"


def test_error_names_the_word():
    with pytest.raises(ShellError, match=r'failed to process "\$\{A"'):
        Lex().process_word("${A", Env([]))
