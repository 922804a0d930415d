"""Engine layer: what a pull or push reports while it runs, as facts (rendered by translate/).

Mirrors moby's progress.Progress: a *message* is a plain status line (`Pulling from …`,
`Digest: …`), an *update* a per-layer status (`Pulling fs layer`, `Download complete`),
optionally with byte counts (`Downloading`, `Extracting`, `Pushing`); the push ends with
an aux record that docker-py and the CLI read for the digest.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class PushResult:
    tag: str
    digest: str
    size: int


@dataclasses.dataclass(frozen=True, slots=True)
class Progress:
    id: str = ""
    message: str = ""  # progress.Message: a status line without progressDetail
    action: str = ""  # progress.Update: a status line with progressDetail
    current: int = 0
    total: int = 0
    counts: bool = False  # carries {current,total} (and the pre-drawn bar)
    aux: PushResult | None = None


def message(text: str, id_: str = "") -> Progress:
    return Progress(id=id_, message=text)


def update(id_: str, action: str) -> Progress:
    return Progress(id=id_, action=action)


def counting(id_: str, action: str, current: int, total: int) -> Progress:
    return Progress(id=id_, action=action, current=current, total=total, counts=True)
