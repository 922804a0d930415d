"""Engine layer: name, reference and ID-prefix resolution, the single place that does it.

Image references follow docker/distribution's grammar and normalisation
(`busybox` = `docker.io/library/busybox:latest`, `localhost:5000/x` keeps its registry,
`name@sha256:…` digests); the familiar form (`busybox:latest`) is what the API shows.

`lookup()` resolves a user's string against any collection of `(id, names)` with dockerd's
order: a full ID, then an exact name, then a unique ID prefix. Containers and images both
use it (images pass canonical `repo:tag` names, containers their names).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from shim.errors import InvalidParameter, ShimError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")
_TAG_RE = re.compile(rf"^{_TAG}$")
NAME_TOTAL_MAX = 255


class RefNotFound(ShimError):
    """Nothing matches; callers turn it into their own 404 wording."""

    status = 404


class RefAmbiguous(ShimError):
    """An ID prefix matches more than one object (dockerd's truncindex wording)."""

    status = 400

    def __init__(self, prefix: str) -> None:
        super().__init__(f"Multiple IDs found with provided prefix: {prefix}")
        self.prefix = prefix


@dataclasses.dataclass(frozen=True, slots=True)
class ImageRef:
    """A normalised image reference: domain/path plus an optional tag and/or digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Canonical repository name, e.g. docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """Repository as users write it, e.g. busybox or localhost:5000/x."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path[len(OFFICIAL_PREFIX) :] if self.path.startswith(OFFICIAL_PREFIX) else self.path
        return self.name

    def with_default_tag(self) -> ImageRef:
        """TagNameOnly: a bare name gets :latest; digests are left alone."""
        if self.tag is None and self.digest is None:
            return dataclasses.replace(self, tag=DEFAULT_TAG)
        return self

    @property
    def canonical(self) -> str:
        return self.name + self._suffix()

    @property
    def familiar(self) -> str:
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag is not None else "") + (f"@{self.digest}" if self.digest else "")


def invalid_reference(detail: str = "") -> InvalidParameter:
    return InvalidParameter("invalid reference format" + (f": {detail}" if detail else ""))


def is_full_id(s: str) -> bool:
    return bool(_HEX64_RE.match(strip_algo(s)))


def strip_algo(s: str) -> str:
    return s[len("sha256:") :] if s.startswith("sha256:") else s


def parse_image_ref(s: str) -> ImageRef:
    """ParseNormalizedNamed: raises InvalidParameter with distribution's wording."""
    if _HEX64_RE.match(s):
        raise InvalidParameter(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(s)
    if remainder.split(":")[0].split("@")[0].lower() != remainder.split(":")[0].split("@")[0]:
        raise invalid_reference("repository name must be lowercase")
    m = _REFERENCE_RE.match(f"{domain}/{remainder}")
    if not m:
        raise invalid_reference()
    name = m.group("name")
    if len(name) > NAME_TOTAL_MAX:
        raise invalid_reference(f"repository name must not be more than {NAME_TOTAL_MAX} characters")
    digest = m.group("digest")
    if digest is not None:
        check_digest(digest)
    dom, _, path = name.partition("/")
    return ImageRef(dom, path, m.group("tag"), digest)


def check_digest(digest: str) -> None:
    """go-digest's Parse/Validate: a known algorithm and its exact hex length, lower case."""
    algo, _, hexpart = digest.partition(":")
    lengths = {"sha256": 64, "sha384": 96, "sha512": 128}
    if algo not in lengths:
        raise InvalidParameter("unsupported digest algorithm")
    if len(hexpart) != lengths[algo]:
        raise InvalidParameter("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise InvalidParameter("invalid checksum digest format")


def _split_domain(s: str) -> tuple[str, str]:
    # splitDockerDomain: the first component is a registry only if it looks like a host.
    i = s.find("/")
    first = s[:i]
    if i == -1 or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, s
    else:
        domain, remainder = first, s[i + 1 :]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_repo_tag(repo: str, tag: str | None) -> ImageRef:
    """A repository plus separate tag as the tag/commit/import endpoints take them.

    `repo` may carry its own tag (import sends `repo=name:tag`); an explicit `tag` wins.
    Digests cannot be the target of a tag.
    """
    ref = parse_image_ref(repo)
    if ref.digest:
        raise InvalidParameter("refusing to create a tag with a digest reference")
    if tag:
        if not _TAG_RE.match(tag):
            raise invalid_reference()
        ref = dataclasses.replace(ref, tag=tag)
    return ref.with_default_tag()


def lookup(ref: str, entries: Iterable[tuple[str, Iterable[str]]]) -> str:
    """Resolve `ref` against (id, names) pairs the way dockerd does; returns the matching id.

    Order: exact full ID (with or without `sha256:`), exact name, then a unique prefix of an
    ID (`sha256:` prefix allowed). Raises RefNotFound, or RefAmbiguous for a shared prefix.
    IDs are compared without their `sha256:` algorithm prefix.
    """
    if not ref:
        raise RefNotFound(ref)
    items = [(strip_algo(i), list(names), i) for i, names in entries]
    bare = strip_algo(ref)
    for hexid, _, orig in items:
        if hexid == bare and len(bare) == 64:
            return orig
    for _, names, orig in items:
        if ref in names:
            return orig
    if not re.fullmatch(r"[a-f0-9]+", bare):
        raise RefNotFound(ref)
    matches = {orig for hexid, _, orig in items if hexid.startswith(bare)}
    if len(matches) > 1:
        raise RefAmbiguous(ref)
    if not matches:
        raise RefNotFound(ref)
    return matches.pop()


def familiar_match(pattern: str, canonical: str) -> bool:
    """reference.FamiliarMatch: a glob against `name:tag`, then against the bare name."""
    import fnmatch

    ref = parse_image_ref(canonical)

    def match(s: str) -> bool:
        # path.Match: `*` does not cross `/`; fnmatch's does, so compare segment-wise.
        pp, ss = pattern.split("/"), s.split("/")
        return len(pp) == len(ss) and all(fnmatch.fnmatchcase(a, p) for p, a in zip(pp, ss, strict=False))

    return match(ref.familiar) or match(ref.familiar_name)
