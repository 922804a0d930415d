""".dockerignore rules (moby/patternmatcher semantics)."""

import pytest

from shim.engine.build.ignore import PatternMatcher, go_clean, read_ignore_file


def test_read_ignore_file():
    text = "\ufeff# comment\n\n  *.log \n/abs/path\n! keep.log\n./a/../b/\n"
    assert read_ignore_file(text) == ["*.log", "abs/path", "!keep.log", "b"]


@pytest.mark.parametrize(
    "patterns,path,expected",
    [
        (["*.log"], "a.log", True),
        (["*.log"], "dir/a.log", False),  # * does not cross directories
        (["**/*.log"], "dir/sub/a.log", True),
        (["**/*.log"], "a.log", True),
        (["dir"], "dir/sub/file", True),  # a matched directory excludes its content
        (["dir/**"], "dir/x", True),
        (["*.log", "!keep.log"], "keep.log", False),
        (["*.log", "!keep.log", "*"], "keep.log", True),  # later lines win
        (["a?c"], "abc", True),
        (["a?c"], "a/c", False),
        (["[a-c].txt"], "b.txt", True),
        (["node_modules"], "node_modules", True),
        (["**"], "anything/at/all", True),
        (["docs/**/*.md"], "docs/a/b/c.md", True),
        (["docs/**/*.md"], "docs/c.md", True),
    ],
)
def test_matches_or_parent_matches(patterns, path, expected):
    assert PatternMatcher(patterns).matches_or_parent_matches(path) is expected


def test_exception_inside_an_excluded_directory():
    pm = PatternMatcher(["dir", "!dir/keep"])
    assert pm.exclusions
    assert pm.matches_or_parent_matches("dir/other")
    assert not pm.matches_or_parent_matches("dir/keep")


def test_bad_patterns():
    with pytest.raises(ValueError, match="illegal exclusion"):
        PatternMatcher(["!"])
    with pytest.raises(ValueError):
        PatternMatcher(["[a-"])


def test_go_clean():
    assert go_clean("") == "."
    assert go_clean("a//b/./c/..") == "a/b"
    assert go_clean("//x") == "/x"
