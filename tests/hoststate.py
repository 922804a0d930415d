"""What one test daemon holds on the host, read from outside (runc, /proc, mountinfo, ip, iptables,
the store's files), and the invariants that must hold between that and what its API shows.

Used by the crash-consistency, shared-host and resource-fault tests: after a SIGKILL and a
restart, or after a fault, nothing the API acknowledged may be lost and nothing may be held
that no container of the API accounts for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.shimd_harness import Shimd

_ID = re.compile(r"^[0-9a-f]{64}$")


@dataclasses.dataclass
class HostView:
    runc: dict[str, str]  # id -> runc status
    conmons: dict[str, int]  # id -> pid
    rootfs_mounts: set[str]
    netns_files: set[str]
    netns_mounts: set[str]
    other_mounts: list[str]  # under our roots, neither a rootfs nor a netns (volumes with options)
    veths: list[str]  # links whose master is one of our bridges
    bridges: list[str]
    dnat: list[str]  # "ip:port" destinations of our DNAT rules
    exec_files: list[str]
    runc_execs: int
    intents: list[str]
    live_leases: dict[str, list[str]]  # cid -> IPs of its live endpoints record


def _processes() -> list[tuple[int, list[str]]]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            raw = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if raw:
            out.append((int(p.name), [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]))
    return out


def runc_list(d: Shimd) -> dict[str, str]:
    out = subprocess.run(
        ["runc", "--root", os.path.join(d.exec_root, "runc"), "list", "--format", "json"],
        capture_output=True,
        text=True,
    ).stdout
    return {e["id"]: e["status"] for e in json.loads(out or "null") or []}


def our_bridges(d: Shimd) -> list[str]:
    """The default bridge and every user network's bridge of this daemon (from its store)."""
    names = [d.bridge]
    for p in (Path(d.data_root) / "db" / "networks").glob("*.json"):
        try:
            rec = json.loads(p.read_text())
        except ValueError:
            continue
        if rec.get("bridge") and rec["bridge"] not in names:
            names.append(rec["bridge"])
    return names


def view(d: Shimd) -> HostView:
    exit_dir = os.path.join(d.exec_root, "exits")
    containers = os.path.join(d.exec_root, "containers") + "/"
    conmons: dict[str, int] = {}
    runc_execs = 0
    for pid, argv in _processes():
        if os.path.basename(argv[0]) == "conmon" and "--exit-dir" in argv:
            i = argv.index("--exit-dir")
            if i + 1 < len(argv) and argv[i + 1] == exit_dir:
                conmons[argv[argv.index("-c") + 1]] = pid
        elif os.path.basename(argv[0]) == "runc" and "exec" in argv and any(a.startswith(containers) for a in argv):
            runc_execs += 1
    rootfs, netns_mounts, other = set(), set(), []
    netns_dir = os.path.join(d.exec_root, "netns") + "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4]
            if target.startswith(containers) and target.endswith("/rootfs"):
                rootfs.add(target[len(containers) : -len("/rootfs")])
            elif target.startswith(netns_dir):
                netns_mounts.add(target[len(netns_dir) :])
            elif target.startswith(str(d.base)):
                other.append(target)
    bridges = our_bridges(d)
    veths = []
    for br in bridges:
        out = subprocess.run(["ip", "-o", "link", "show", "master", br], capture_output=True, text=True).stdout
        veths += [ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ln.strip()]
    present = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
    dnat = []
    nat = subprocess.run(["iptables", "-w", "-t", "nat", "-S", f"SHIM-{d.bridge}"], capture_output=True, text=True)
    for ln in nat.stdout.splitlines():
        m = re.search(r"--to-destination (\S+)", ln)
        if m:
            dnat.append(m.group(1))
    exec_files = [str(p) for p in Path(containers).glob("*/exec-*")]
    intents_dir = Path(d.data_root) / "db" / "intents"
    intents = sorted(p.name for p in intents_dir.glob("*.json")) if intents_dir.exists() else []
    leases: dict[str, list[str]] = {}
    for p in (Path(d.data_root) / "db" / "endpoints").glob("*.json"):
        try:
            rec = json.loads(p.read_text())
        except ValueError:
            continue
        if rec.get("live"):
            leases[p.name[:-5]] = [ep.get("ip") for ep in (rec.get("endpoints") or {}).values() if ep.get("ip")]
    nsdir = Path(d.exec_root) / "netns"
    return HostView(
        runc=runc_list(d),
        conmons=conmons,
        rootfs_mounts=rootfs,
        netns_files={p.name for p in nsdir.iterdir()} if nsdir.exists() else set(),
        netns_mounts=netns_mounts,
        other_mounts=other,
        veths=veths,
        bridges=[b for b in bridges if f" {b}:" in present],
        dnat=dnat,
        exec_files=exec_files,
        runc_execs=runc_execs,
        intents=intents,
        live_leases=leases,
    )


@dataclasses.dataclass
class ApiView:
    ids: set[str]
    running: dict[str, dict[str, Any]]  # id -> inspect of each running container
    volumes: set[str]
    volume_users: set[str]  # volumes some container mounts


def api_view(d: Shimd) -> ApiView:
    status, _, body = d.http("GET", "/containers/json?all=1", timeout=30)
    assert status == 200, body
    listed = json.loads(body)
    running = {}
    users = set()
    for c in listed:
        st, _, b = d.http("GET", f"/containers/{c['Id']}/json", timeout=30)
        if st != 200:
            continue
        info = json.loads(b)
        users |= {m["Name"] for m in info.get("Mounts") or [] if m.get("Type") == "volume"}
        if info["State"]["Running"]:
            running[c["Id"]] = info
    st, _, b = d.http("GET", "/volumes", timeout=30)
    vols = {v["Name"] for v in json.loads(b).get("Volumes") or []}
    return ApiView(ids={c["Id"] for c in listed}, running=running, volumes=vols, volume_users=users)


def own_netns(info: dict[str, Any]) -> bool:
    mode = info["HostConfig"].get("NetworkMode") or "default"
    return not (mode == "host" or mode.startswith("container:"))


def problems(d: Shimd) -> list[str]:
    """Every difference between what the host holds and what the API shows (empty: consistent)."""
    api = api_view(d)
    host = view(d)
    out = []
    running = set(api.running)
    if set(host.runc) - api.ids:
        out.append(f"orphans in runc: {sorted(set(host.runc) - api.ids)}")
    if set(host.runc) != running:
        out.append(f"runc holds {sorted(host.runc.items())}, running per the API: {sorted(running)}")
    if set(host.conmons) != running:
        out.append(f"conmons of {sorted(host.conmons)}, running: {sorted(running)}")
    if host.rootfs_mounts != running:
        out.append(f"rootfs mounted for {sorted(host.rootfs_mounts)}, running: {sorted(running)}")
    with_ns = {cid for cid, info in api.running.items() if own_netns(info)}
    if host.netns_files != with_ns or host.netns_mounts != with_ns:
        out.append(
            f"netns files {sorted(host.netns_files)} mounts {sorted(host.netns_mounts)}, expected {sorted(with_ns)}"
        )
    if host.other_mounts:
        out.append(f"other mounts under the roots: {host.other_mounts}")
    ips = []
    ports = []
    for info in api.running.values():
        nets = (info.get("NetworkSettings") or {}).get("Networks") or {}
        ips += [n["IPAddress"] for n in nets.values() if n.get("IPAddress")]
        for key, binds in ((info.get("NetworkSettings") or {}).get("Ports") or {}).items():
            ports += [key] * len(binds or [])
    if len(host.veths) != len(ips):
        out.append(f"veths {host.veths} for {len(ips)} endpoints of running containers")
    if len(set(ips)) != len(ips):
        out.append(f"an address leased twice: {sorted(ips)}")
    lease_ips = sorted(ip for v in host.live_leases.values() for ip in v)
    if set(host.live_leases) != with_ns or lease_ips != sorted(ips):
        out.append(f"live leases {host.live_leases}, running: {sorted(with_ns)} with {sorted(ips)}")
    if len(host.dnat) != len(ports) or any(dst.split(":")[0] not in ips for dst in host.dnat):
        out.append(f"DNAT rules to {host.dnat}, published ports of running containers: {ports} on {ips}")
    if host.runc_execs == 0 and host.exec_files:
        out.append(f"exec files without an exec: {host.exec_files}")
    if host.intents:
        out.append(f"intents left: {host.intents}")
    if api.volumes - api.volume_users:
        out.append(
            f"volumes no container uses (the test makes none of its own): {sorted(api.volumes - api.volume_users)}"
        )
    vol_dirs = {p.name for p in (Path(d.data_root) / "volumes").glob("*") if p.is_dir()}
    if vol_dirs != api.volumes:
        out.append(f"volume directories {sorted(vol_dirs)}, volumes {sorted(api.volumes)}")
    data_dirs = {p.name for p in (Path(d.data_root) / "containers").glob("*") if _ID.match(p.name)}
    if data_dirs - api.ids:
        out.append(f"container directories of no container: {sorted(data_dirs - api.ids)}")
    bundles = {p.name for p in (Path(d.exec_root) / "containers").glob("*") if _ID.match(p.name)}
    if bundles - api.ids:
        out.append(f"bundles of no container: {sorted(bundles - api.ids)}")
    # a removal's directories wait in the trash only until its thread has deleted them
    trash = [p.name for root in (d.data_root, d.exec_root) for p in (Path(root) / "trash").glob("*")]
    if trash:
        out.append(f"removed directories still in the trash: {sorted(trash)}")
    return out


def settle(d: Shimd, timeout: float = 30) -> list[str]:
    """The invariants, polled until they hold (a stop's veth and rules go in the background) or
    `timeout` runs out; returns the last differences found."""
    deadline = time.monotonic() + timeout
    while True:
        found = problems(d)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)
