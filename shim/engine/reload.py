"""Engine layer: applying a reloaded daemon.json (SIGHUP) to the running settings, as dockerd's
daemon/reload.go, and the `daemon reload` event it publishes.

The keys dockerd reloads that shim has: debug, labels, max-concurrent-downloads/-uploads,
max-download-attempts, insecure-registries, registry-mirrors; plus log-level, which dockerd
only moves between debug and info through `debug`. The rules are reload.go's: debug, labels,
log-level and the registry lists keep their running value when the file no longer sets them
(IsValueSet); the max-* ones fall back to their defaults. Everything else in the file needs a
restart, as with dockerd. The settings object is changed in place: services that hold it
(the /info renderer, the registry client) see the new values at their next use.
"""

from __future__ import annotations

import json
from typing import Protocol

from shim.config import Settings


class EventSink(Protocol):
    def publish(
        self, type_: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> dict[str, object]: ...


# Settings field -> the attribute name in the reload event (dockerd's daemon.json key)
KEEP_UNLESS_SET = {
    "debug": "debug",
    "log_level": "log-level",
    "labels": "labels",
    "insecure_registries": "insecure-registries",
    "registry_mirrors": "registry-mirrors",
}
RESET_TO_DEFAULT = {
    "max_concurrent_downloads": "max-concurrent-downloads",
    "max_concurrent_uploads": "max-concurrent-uploads",
    "max_download_attempts": "max-download-attempts",
}


def apply(live: Settings, new: Settings, was_set: set[str]) -> dict[str, str]:
    """Copy the reloadable values of `new` into `live`; the event attributes (every reloadable key)."""
    for field in KEEP_UNLESS_SET:
        if field in was_set:
            setattr(live, field, getattr(new, field))
    for field in RESET_TO_DEFAULT:
        setattr(live, field, getattr(new, field))
    attrs: dict[str, str] = {}
    for field, key in {**KEEP_UNLESS_SET, **RESET_TO_DEFAULT}.items():
        value = getattr(live, field)
        if isinstance(value, bool):
            attrs[key] = "true" if value else "false"
        elif isinstance(value, list):
            attrs[key] = json.dumps(value, separators=(",", ":"))  # Go's json.Marshal of a []string
        else:
            attrs[key] = str(value)
    return attrs


def publish_reload(events: EventSink, daemon_id: str, hostname: str, attrs: dict[str, str]) -> None:
    """dockerd's LogDaemonEventWithAttributes(reload): type daemon, the daemon's ID, its name."""
    events.publish("daemon", "reload", daemon_id, {**attrs, "name": hostname} if hostname else attrs)
