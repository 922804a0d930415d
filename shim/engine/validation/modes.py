"""Engine layer (pure): a container's namespace modes and the network options that go with them.

The modes dockerd's HostConfig types call Valid() (IpcMode, PidMode, UTSMode, UsernsMode,
CgroupnsMode), NetworkMode's container form, and runconfig's validateNetMode /
validateNetContainerMode conflicts (dockerd 20.10 checks these while decoding the request).
A `container:<ref>` must name a container that exists: dockerd finds out at start, shimd at
create, so nothing is created that can never run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shim.errors import InvalidParameter, NotFound

Lookup = Callable[[str], Any]

_IPC = ("", "none", "private", "shareable", "host")
_PID = ("", "host")
_UTS = ("", "host")
_CGROUPNS = ("", "host", "private")
_USERNS = ("", "host", "private")
_NETWORK_SIMPLE = ("", "default", "bridge", "host", "none")

# runconfig/errors.go, dockerd 20.10's wording
CONFLICT_UTS_HOSTNAME = "conflicting options: hostname and the UTS mode"
CONFLICT_HOST_LINKS = (
    "conflicting options: host type networking can't be used with links. This would result in undefined behavior"
)
CONFLICT_CONTAINER_HOSTNAME = "conflicting options: hostname and the network mode"
CONFLICT_CONTAINER_LINKS = (
    "conflicting options: container type network can't be used with links. This would result in undefined behavior"
)
CONFLICT_CONTAINER_DNS = "conflicting options: dns and the network mode"
CONFLICT_CONTAINER_HOSTS = "conflicting options: custom host-to-IP mapping and the network mode"
CONFLICT_CONTAINER_MAC = "conflicting options: mac-address and the network mode"
CONFLICT_CONTAINER_PUBLISH = "conflicting options: port publishing and the container type network mode"
CONFLICT_CONTAINER_EXPOSE = "conflicting options: port exposing and the container type network mode"


def _joined(mode: str) -> str | None:
    """The <ref> of "container:<ref>", None for any other mode."""
    return mode.split(":", 1)[1] if mode.startswith("container:") else None


def _exists(ref: str, field: str, lookup: Lookup | None) -> None:
    if lookup is None:
        return
    try:
        lookup(ref)
    except NotFound:
        raise InvalidParameter(f"invalid {field}: No such container: {ref[:80]}") from None


def check_modes(hc: dict[str, Any], lookup: Lookup | None) -> None:
    """IpcMode, PidMode, UTSMode, UsernsMode, CgroupnsMode, NetworkMode's form; container refs exist."""
    ipc, pid = hc.get("IpcMode") or "", hc.get("PidMode") or ""
    ipc_ref, pid_ref = _joined(ipc), _joined(pid)
    if ipc not in _IPC and not ipc_ref:
        raise InvalidParameter(f"invalid IPC mode: {ipc[:80]}")
    if pid not in _PID and not pid_ref:
        raise InvalidParameter(f"invalid PID mode: {pid[:80]}")
    uts = hc.get("UTSMode") or ""
    if uts not in _UTS:
        raise InvalidParameter(f"invalid UTS mode: {uts[:80]}")
    userns = (hc.get("UsernsMode") or "").split(":", 1)[0]
    if userns not in _USERNS:
        raise InvalidParameter(f"invalid USER mode: {(hc.get('UsernsMode') or '')[:80]}")
    cgroupns = hc.get("CgroupnsMode") or ""
    if cgroupns not in _CGROUPNS:
        raise InvalidParameter(f"invalid cgroup namespace mode: {cgroupns[:80]}")
    net = hc.get("NetworkMode") or ""
    if net.split(":", 1)[0] == "container" and not _joined(net):
        raise InvalidParameter("Invalid network mode: invalid container format container:<name|id>")
    for ref, field in ((ipc_ref, "IpcMode"), (pid_ref, "PidMode"), (_joined(net), "NetworkMode")):
        if ref is not None:
            _exists(ref, field, lookup)


def check_network_conflicts(config: dict[str, Any], hc: dict[str, Any]) -> None:
    """runconfig's validateNetMode on the request's own Config (before the image's is merged)."""
    net = hc.get("NetworkMode") or ""
    joined = _joined(net) is not None
    if joined:
        if config.get("Hostname"):
            raise InvalidParameter(CONFLICT_CONTAINER_HOSTNAME)
        if hc.get("Links"):
            raise InvalidParameter(CONFLICT_CONTAINER_LINKS)
        if hc.get("Dns"):
            raise InvalidParameter(CONFLICT_CONTAINER_DNS)
        if hc.get("ExtraHosts"):
            raise InvalidParameter(CONFLICT_CONTAINER_HOSTS)
    if (joined or net == "host") and config.get("MacAddress"):
        raise InvalidParameter(CONFLICT_CONTAINER_MAC)
    if joined and (hc.get("PortBindings") or hc.get("PublishAllPorts")):
        raise InvalidParameter(CONFLICT_CONTAINER_PUBLISH)
    if joined and config.get("ExposedPorts"):
        raise InvalidParameter(CONFLICT_CONTAINER_EXPOSE)
    if (hc.get("UTSMode") or "") == "host" and config.get("Hostname"):
        raise InvalidParameter(CONFLICT_UTS_HOSTNAME)
    if net == "host" and hc.get("Links"):
        raise InvalidParameter(CONFLICT_HOST_LINKS)


# runc's libcontainer/configs/validate sysctl rules: which keys a namespace makes the container's own
_IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)


def check_sysctls(hc: dict[str, Any]) -> None:
    """HostConfig.Sysctls: only keys of a namespace the container has (runc refuses the rest at start)."""
    for key in hc.get("Sysctls") or {}:
        if not key or "\x00" in key or ".." in key or key.startswith(("/", ".")):
            raise InvalidParameter(f"invalid Sysctls key: {key[:80]!r}")
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if (hc.get("IpcMode") or "") == "host":
                raise InvalidParameter(f'sysctl "{key}" is not allowed in the hosts ipc namespace')
            continue
        if key.startswith("net."):
            if (hc.get("NetworkMode") or "") == "host":
                raise InvalidParameter(f'sysctl "{key}" is not allowed in the hosts network namespace')
            continue
        if key == "kernel.domainname" and (hc.get("UTSMode") or "") != "host":
            continue
        if key == "kernel.hostname" and (hc.get("UTSMode") or "") != "host":
            raise InvalidParameter(f'sysctl "{key}" is not allowed as it conflicts with the OCI "hostname" field')
        raise InvalidParameter(f'sysctl "{key[:80]}" is not in a separate kernel namespace')
