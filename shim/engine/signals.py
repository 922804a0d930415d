"""Engine layer: signal names and numbers as moby's signal.ParseSignal reads them."""

from __future__ import annotations

import signal as _signal

from shim.errors import InvalidParameter


def parse_signal(raw: str | int | None, default: int = _signal.SIGKILL) -> int:
    """moby's signal.ParseSignal: a number, or a name with or without SIG, any case."""
    if raw is None or raw == "":
        return default
    text = str(raw)
    try:
        n = int(text)
    except ValueError:
        pass
    else:
        if n <= 0 or n > 64:
            raise InvalidParameter(f"Invalid signal: {text}")
        return n
    name = text.upper()
    name = name[3:] if name.startswith("SIG") else name
    try:
        return int(_signal.Signals["SIG" + name])
    except KeyError:
        raise InvalidParameter(f"Invalid signal: {text}") from None
