"""A NetworkService on real adapters for integration tests, and a stand-in container record."""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import types
from typing import Any

from shim.engine.events import Events
from shim.engine.networks import NetworkService
from shim.engine.store import Store
from shim.runtime.dns import EmbeddedDns
from shim.runtime.iptables import Firewall
from shim.runtime.netfiles import NetFiles
from shim.runtime.netlink import Netlink
from shim.runtime.portreserve import PortReserver


@dataclasses.dataclass
class FakeContainer:
    id: str
    name: str
    config: dict[str, Any]
    host_config: dict[str, Any]
    networking_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    state: Any = dataclasses.field(default_factory=lambda: types.SimpleNamespace(running=True))


def container(name: str, **hc: Any) -> FakeContainer:
    cid = secrets.token_hex(32)
    nc = hc.pop("networking_config", {})
    cfg = hc.pop("config", {})
    return FakeContainer(
        id=cid,
        name=name,
        config={"Hostname": cid[:12], **cfg},
        host_config={"NetworkMode": "default", **hc},
        networking_config=nc,
    )


def build(root: str, tag: str, bip: str) -> NetworkService:
    data, execr = os.path.join(root, "data"), os.path.join(root, "exec")
    os.makedirs(data, exist_ok=True)
    os.makedirs(execr, exist_ok=True)
    settings = types.SimpleNamespace(bridge=tag, bip=bip, data_root=data, exec_root=execr)
    nl = Netlink(execr, tag)
    return NetworkService(
        store=Store(data),
        events=Events(),
        settings=settings,
        netlink=nl,
        firewall=Firewall(tag),
        dns=EmbeddedDns(nl.socket_in_netns),
        ports=PortReserver(),
        files=NetFiles(),
        data_root=data,
    )


def in_ns(netns: str, *args: str, timeout: float = 10, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["nsenter", f"--net={netns}", "busybox", *args], capture_output=True, text=True, timeout=timeout, input=input
    )


def spawn_in_ns(netns: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["nsenter", f"--net={netns}", "busybox", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )


async def leftovers(tag: str, exec_root: str) -> list[str]:
    """Every trace of a daemon instance on the host: links, namespaces, rules."""
    out = []
    nl = Netlink(exec_root, tag)
    out += [f"link {name}" for name, _, _ in await nl.our_links()]
    out += [f"netns {n}" for n in await nl.list_netns()]
    nl.close()
    rules = await Firewall(tag).dump()
    out += [f"rule {r}" for r in rules.splitlines() if r]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    out += [f"ip link {ln.split(':')[1].strip()}" for ln in links.splitlines() if tag in ln]
    return out
