"""The hostile-input catalogue (issue 16): requests a careless or hostile client sends, by category
(json, types, values, names here; query, versions, archives, conflicts in hostile_cases_more.py,
which the tests import too).

Each case is one request that shimd must refuse with a 4xx and a message, changing nothing
(tests/integration/test_hostile_input.py checks both). `{c}` in a path is a running container
of the test's own, `{s}` a stopped one, `{n}` a network of its own, `{v}` a volume it uses.
A body is JSON (a dict/list), raw bytes, or None; `status` narrows the expected 4xx when dockerd's
status is known, and `message` is a regular expression the message must match.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from typing import Any


@dataclasses.dataclass(frozen=True)
class Case:
    category: str
    id: str
    method: str
    path: str
    body: Any = None
    status: tuple[int, ...] = ()  # () = any 4xx
    message: str = ""
    headers: tuple[tuple[str, str], ...] = ()


CASES: list[Case] = []


def add(category: str, id_: str, method: str, path: str, body: Any = None, status: Any = (), message: str = "", **kw):
    if isinstance(status, int):
        status = (status,)
    headers = tuple((kw.get("headers") or {}).items())
    CASES.append(Case(category, id_, method, path, body, tuple(status), message, headers))


def q(value: Any) -> str:
    return urllib.parse.quote(value if isinstance(value, str) else json.dumps(value), safe="")


BASE = {"Image": "busybox", "Cmd": ["true"]}
STREAM_ERROR = "errorDetail"  # a 200 whose JSON stream carries the error (dockerd's answer to a bad load)


def create(id_: str, extra: dict[str, Any] | None = None, hc: dict[str, Any] | None = None, **kw: Any) -> None:
    body: dict[str, Any] = dict(BASE)
    body.update(extra or {})
    if hc is not None:
        body["HostConfig"] = hc
    add(kw.pop("category", "values"), id_, "POST", "/v1.41/containers/create", body, **kw)


# ---------------------------------------------------------------------------------------- json
JSON_ENDPOINTS = {
    "create": ("POST", "/v1.41/containers/create"),
    "update": ("POST", "/v1.41/containers/{c}/update"),
    "exec": ("POST", "/v1.41/containers/{c}/exec"),
    "network": ("POST", "/v1.41/networks/create"),
    "volume": ("POST", "/v1.41/volumes/create"),
    "connect": ("POST", "/v1.41/networks/{n}/connect"),
    "disconnect": ("POST", "/v1.41/networks/{n}/disconnect"),
}
MALFORMED = {
    "truncated": b'{"Image":"busybox"',
    "garbage": b"{bad json",
    "nan": b'{"Image":"busybox","Memory":NaN}',
    "infinity": b'{"Image":"busybox","Memory":Infinity}',
    "neg-infinity": b'{"Image":"busybox","Memory":-Infinity}',
    "huge-float": b'{"Image":"busybox","Memory":1e400}',
    "deep-arrays": b"[" * 10000 + b"]" * 10000,
    "deep-objects": b'{"a":' * 10000 + b"1" + b"}" * 10000,
    "deep-inside": b'{"Image":"busybox","Labels":' + b"[" * 5000 + b"]" * 5000 + b"}",
    "invalid-utf8": b'{"Image":"\xff\xfe"}',
    "trailing-garbage": b'{"Image":"busybox"} xyz',
    "array": b"[1,2,3]",
    "string": b'"busybox"',
    "number": b"42",
}
for ep, (method, path) in JSON_ENDPOINTS.items():
    for name, raw in MALFORMED.items():
        if name in ("array", "string", "number") and ep in ("volume",):
            continue
        add("json", f"{ep}-{name}", method, path, raw)
add(
    "json",
    "create-too-large",
    "POST",
    "/v1.41/containers/create",
    b'{"Image":"busybox","Env":["' + b"x" * (9 << 20) + b'"]}',
    413,
)
add(
    "json",
    "create-wrong-content-type",
    "POST",
    "/v1.41/containers/create",
    b"{}",
    400,
    headers={"Content-Type": "text/plain"},
)
add("json", "create-empty", "POST", "/v1.41/containers/create", b"", 400)
add("json", "create-null", "POST", "/v1.41/containers/create", b"null", 400)
add(
    "json",
    "create-only-hostconfig",
    "POST",
    "/v1.41/containers/create",
    {"HostConfig": {}},
    400,
    "Config cannot be empty",
)
add("json", "legacy-start-garbage", "POST", "/v1.21/containers/{s}/start", b"{bad json here", 400)
add("json", "legacy-start-deep", "POST", "/v1.21/containers/{s}/start", b"[" * 10000 + b"]" * 10000, 400)
add("json", "legacy-start-nan", "POST", "/v1.21/containers/{s}/start", b'{"Memory":NaN}', 400)
add("json", "legacy-start-wrong-type", "POST", "/v1.21/containers/{s}/start", {"Memory": "lots"}, 400)

# ---------------------------------------------------------------------------------------- types
INT64_FIELDS = [
    "CpuShares",
    "Memory",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "NanoCpus",
    "PidsLimit",
    "ShmSize",
    "KernelMemory",
]
BAD_INTS = {
    "2^63": 2**63,
    "-2^63-1": -(2**63) - 1,
    "2^70": 2**70,
    "fraction": 1.5,
    "exponent": 1e3,
    "string": "1",
    "bool": True,
}
for field in INT64_FIELDS:
    for name, value in BAD_INTS.items():
        create(f"hc-{field}-{name}", hc={field: value}, category="types", status=400, message=field)
for field in ("CpuShares", "Memory", "NanoCpus", "PidsLimit", "CpuQuota"):
    for name, value in (("2^63", 2**63), ("fraction", 0.5), ("string", "x")):
        add("types", f"update-{field}-{name}", "POST", "/v1.41/containers/{c}/update", {field: value}, 400, field)
for field, value in (
    ("BlkioWeight", -1),
    ("BlkioWeight", 65536),
    ("OomScoreAdj", 2**63),
    ("IOMaximumIOps", -1),
    ("ConsoleSize", [-1, 1]),
    ("ConsoleSize", [1, 2, 3]),
):
    create(f"hc-{field}-{value}", hc={field: value}, category="types", status=400, message=field)
SHAPES = [
    ("PortBindings-string", {"PortBindings": {"80/tcp": "8080"}}),
    ("PortBindings-list-of-strings", {"PortBindings": {"80/tcp": ["8080"]}}),
    ("PortBindings-number-port", {"PortBindings": {"80/tcp": [{"HostPort": 8080}]}}),
    ("PortBindings-list", {"PortBindings": ["80:80"]}),
    ("Binds-string", {"Binds": "/a:/b"}),
    ("Binds-number", {"Binds": [5]}),
    ("CapAdd-string", {"CapAdd": "NET_ADMIN"}),
    ("Dns-number", {"Dns": [8]}),
    ("LogConfig-number-option", {"LogConfig": {"Type": "json-file", "Config": {"max-size": 10}}}),
    ("LogConfig-string", {"LogConfig": "json-file"}),
    ("Sysctls-number", {"Sysctls": {"net.core.somaxconn": 1024}}),
    ("Tmpfs-list", {"Tmpfs": ["/run"]}),
    ("Mounts-number", {"Mounts": [1]}),
    ("Mounts-type-number", {"Mounts": [{"Type": 5, "Target": "/x"}]}),
    ("Ulimits-string-soft", {"Ulimits": [{"Name": "nofile", "Soft": "1", "Hard": 2}]}),
    ("Ulimits-huge", {"Ulimits": [{"Name": "nofile", "Soft": 2**64, "Hard": 2**64}]}),
    ("RestartPolicy-string", {"RestartPolicy": "always"}),
    ("RestartPolicy-retries-string", {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": "3"}}),
    ("Devices-string", {"Devices": ["/dev/null"]}),
    ("Privileged-string", {"Privileged": "true"}),
    ("NetworkMode-number", {"NetworkMode": 1}),
    ("Annotations-number", {"Annotations": {"a": 1}}),
    ("HostConfig-list", []),
]
for name, hc in SHAPES:
    body = dict(BASE, HostConfig=hc)
    add("types", f"hc-{name}", "POST", "/v1.41/containers/create", body, 400)
for name, extra in (
    ("Volumes-string", {"Volumes": {"/data": "x"}}),
    ("Volumes-number", {"Volumes": {"/data": 1}}),
    ("Volumes-list", {"Volumes": ["/data"]}),
    ("ExposedPorts-string", {"ExposedPorts": {"80/tcp": "yes"}}),
    ("ExposedPorts-list", {"ExposedPorts": ["80/tcp"]}),
    ("Env-string", {"Env": "A=1"}),
    ("Env-number", {"Env": ["A=1", 2]}),
    ("Cmd-number", {"Cmd": 5}),
    ("Cmd-numbers", {"Cmd": ["sh", 5]}),
    ("Labels-number", {"Labels": {"a": 1}}),
    ("Labels-list", {"Labels": ["a=b"]}),
    ("Healthcheck-string-interval", {"Healthcheck": {"Test": ["CMD", "true"], "Interval": "1s"}}),
    ("Healthcheck-huge", {"Healthcheck": {"Test": ["CMD", "true"], "Interval": 2**64}}),
    ("StopTimeout-string", {"StopTimeout": "10"}),
    ("Image-number", {"Image": 5}),
    ("Tty-string", {"Tty": "yes"}),
    ("EndpointsConfig-string", {"NetworkingConfig": {"EndpointsConfig": {"bridge": "x"}}}),
    ("EndpointsConfig-list", {"NetworkingConfig": {"EndpointsConfig": ["bridge"]}}),
    ("EndpointsConfig-aliases-string", {"NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": "a"}}}}),
):
    create(name, extra, category="types", status=400)
for name, body in (
    ("exec-cmd-string-list", {"Cmd": [1]}),
    ("exec-env-number", {"Cmd": ["true"], "Env": [1]}),
    ("exec-console-negative", {"Cmd": ["true"], "ConsoleSize": [-1, 80]}),
    ("exec-tty-string", {"Cmd": ["true"], "Tty": "1"}),
):
    add("types", name, "POST", "/v1.41/containers/{c}/exec", body, 400)
for name, body in (
    ("network-name-number", {"Name": 5}),
    ("network-options-number", {"Name": "hostile-net-x", "Options": {"a": 1}}),
    ("network-labels-list", {"Name": "hostile-net-x", "Labels": ["a"]}),
    ("network-ipam-config-string", {"Name": "hostile-net-x", "IPAM": {"Config": "10.0.0.0/24"}}),
    ("network-internal-string", {"Name": "hostile-net-x", "Internal": "yes"}),
):
    add("types", name, "POST", "/v1.41/networks/create", body, 400)
for name, body in (
    ("volume-name-number", {"Name": 5}),
    ("volume-opts-number", {"Name": "hostile-vol-x", "DriverOpts": {"o": 1}}),
    ("volume-labels-list", {"Name": "hostile-vol-x", "Labels": ["a"]}),
):
    add("types", name, "POST", "/v1.41/volumes/create", body, 400)
add("types", "connect-container-number", "POST", "/v1.41/networks/{n}/connect", {"Container": 5}, 400)
add(
    "types",
    "connect-aliases-string",
    "POST",
    "/v1.41/networks/{n}/connect",
    {"Container": "{s}", "EndpointConfig": {"Aliases": "a"}},
    400,
)

# ---------------------------------------------------------------------------------------- values
VALUES_HC = [
    ("memory-too-small", {"Memory": 1}, "Minimum memory limit allowed is 6MB"),
    ("memory-negative", {"Memory": -1}, "Minimum memory limit"),
    ("swap-below-memory", {"Memory": 8 << 20, "MemorySwap": 7 << 20}, "memoryswap"),
    ("swap-negative", {"MemorySwap": -5}, "MemorySwap"),
    ("swap-without-memory", {"MemorySwap": 8 << 20}, "Memory limit"),
    ("reservation-small", {"MemoryReservation": 1}, "reservation"),
    ("reservation-above-limit", {"Memory": 8 << 20, "MemoryReservation": 16 << 20}, "reservation"),
    ("swappiness", {"MemorySwappiness": 101}, "swappiness"),
    ("kernel-memory-negative", {"KernelMemory": -1}, "KernelMemory"),
    ("cpu-shares-negative", {"CpuShares": -5}, "CpuShares"),
    ("cpuset-absent-cpus", {"CpusetCpus": "0-63"}, "Requested CPUs are not available"),
    ("cpuset-huge", {"CpusetCpus": "100000"}, "cpuset cpus"),
    ("cpuset-garbage", {"CpusetCpus": "x"}, "Invalid value x for cpuset cpus"),
    ("cpuset-reversed", {"CpusetCpus": "1-0"}, "cpuset cpus"),
    ("cpuset-mems-absent", {"CpusetMems": "9"}, "memory nodes"),
    ("nanocpus-negative", {"NanoCpus": -1}, "Range of CPUs"),
    ("nanocpus-too-many", {"NanoCpus": 999 * 10**9}, "Range of CPUs"),
    ("nanocpus-and-period", {"NanoCpus": 10**9, "CpuPeriod": 100000}, "Conflicting options"),
    ("cpu-period-small", {"CpuPeriod": 10}, "CPU cfs period"),
    ("cpu-period-large", {"CpuPeriod": 2000000}, "CPU cfs period"),
    ("cpu-quota-small", {"CpuQuota": 10}, "CPU cfs quota"),
    ("cpu-quota-negative", {"CpuQuota": -5}, "CpuQuota"),
    ("rt-runtime-above-period", {"CpuRealtimePeriod": 1000, "CpuRealtimeRuntime": 2000}, "real-time"),
    ("blkio-weight-small", {"BlkioWeight": 5}, "blkio weight"),
    ("blkio-device-weight", {"BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 5000}]}, "BlkioWeightDevice"),
    ("blkio-device-relative", {"BlkioDeviceReadBps": [{"Path": "sda", "Rate": 1}]}, "BlkioDeviceReadBps"),
    ("io-maximum-bandwidth", {"IOMaximumBandwidth": 1}, "QoS"),
    ("oom-score-adj", {"OomScoreAdj": 1001}, "oom score adj"),
    ("shm-negative", {"ShmSize": -1}, "SHM size|ShmSize"),
    ("pid-mode", {"PidMode": "bogus"}, "invalid PID mode: bogus"),
    ("pid-container-missing", {"PidMode": "container:hostile-missing"}, "No such container"),
    ("ipc-mode", {"IpcMode": "bogus"}, "invalid IPC mode: bogus"),
    ("ipc-container-missing", {"IpcMode": "container:hostile-missing"}, "No such container"),
    ("uts-mode", {"UTSMode": "bogus"}, "invalid UTS mode"),
    ("userns-mode", {"UsernsMode": "bogus"}, "mode"),
    ("cgroupns-mode", {"CgroupnsMode": "bogus"}, "invalid cgroup namespace mode"),
    ("network-container-missing", {"NetworkMode": "container:hostile-missing"}, "No such container"),
    ("network-container-empty", {"NetworkMode": "container:"}, "invalid container format"),
    ("network-missing", {"NetworkMode": "hostile-no-such-net"}, "not found"),
    ("network-container-publish", {"NetworkMode": "container:{s}", "PortBindings": {"80/tcp": [{}]}}, "conflicting"),
    ("network-container-dns", {"NetworkMode": "container:{s}", "Dns": ["1.1.1.1"]}, "conflicting options"),
    ("network-host-links", {"NetworkMode": "host", "Links": ["{s}:x"]}, "conflicting options"),
    ("log-driver", {"LogConfig": {"Type": "hostile-driver"}}, "logging plugin"),
    ("cap-add", {"CapAdd": ["CAP_HOSTILE"]}, "invalid CapAdd: unknown capability"),
    ("cap-drop", {"CapDrop": ["HOSTILE"]}, "invalid CapDrop: unknown capability"),
    ("restart-policy", {"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy"),
    ("restart-always-retries", {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}}, "retry count"),
    ("restart-negative-retries", {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}}, "negative"),
    ("autoremove-with-restart", {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}, "AutoRemove"),
    ("isolation", {"Isolation": "hyperv"}, "isolation"),
    ("runtime", {"Runtime": "hostile-runtime"}, "Unknown runtime"),
    ("sysctl-not-namespaced", {"Sysctls": {"kernel.panic": "1"}}, "not in a separate kernel namespace"),
    ("sysctl-net-host", {"NetworkMode": "host", "Sysctls": {"net.core.somaxconn": "1"}}, "network namespace"),
    ("sysctl-ipc-host", {"IpcMode": "host", "Sysctls": {"kernel.shmmax": "1"}}, "ipc namespace"),
    ("sysctl-traversal", {"Sysctls": {"net/../../kernel/panic": "1"}}, "Sysctls"),
    ("extra-host-format", {"ExtraHosts": ["nocolon"]}, "bad format for add-host"),
    ("extra-host-ip", {"ExtraHosts": ["h:not-an-ip"]}, "invalid IP address in add-host"),
    ("dns-not-ip", {"Dns": ["resolver"]}, "not an ip address"),
    ("port-key-range", {"PortBindings": {"99999/tcp": [{}]}}, "invalid port specification"),
    ("port-key-zero", {"PortBindings": {"0/tcp": [{}]}}, "invalid port specification"),
    ("port-key-proto", {"PortBindings": {"80/xyz": [{}]}}, "invalid proto"),
    ("port-key-text", {"PortBindings": {"http/tcp": [{}]}}, "invalid port specification"),
    ("port-key-unicode-digits", {"PortBindings": {"٨٠/tcp": [{}]}}, "invalid port specification"),
    ("host-port-range", {"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}}, "invalid port specification"),
    ("host-port-text", {"PortBindings": {"80/tcp": [{"HostPort": "eighty"}]}}, "invalid port specification"),
    ("host-port-signed", {"PortBindings": {"80/tcp": [{"HostPort": "+80"}]}}, "invalid port specification"),
    ("host-ip", {"PortBindings": {"80/tcp": [{"HostIp": "not-an-ip", "HostPort": "8080"}]}}, "HostIp|host IP"),
    ("binds-too-many-colons", {"Binds": ["/a:/b:ro:x"]}, "invalid"),
    ("binds-relative-dest", {"Binds": ["/tmp:relative"]}, "absolute"),
    ("binds-root-dest", {"Binds": ["/tmp:/"]}, "destination"),
    ("binds-nul", {"Binds": ["vol\u0000x:/data"]}, "NUL"),
    ("binds-long-volume", {"Binds": ["v" * 300 + ":/data"]}, "255"),
    ("binds-bad-volume-name", {"Binds": ["a$b:/data"]}, "invalid"),
    ("binds-missing-source", {"Binds": ["/hostile/no/such/dir:/data:ro,z,Z"]}, "invalid"),
    ("binds-data-root", {"Binds": ["{data_root}:/x"]}, "data root"),
    ("mounts-type", {"Mounts": [{"Type": "bogus", "Target": "/x"}]}, "mount"),
    ("mounts-volume-slash", {"Mounts": [{"Type": "volume", "Source": "a/b", "Target": "/x"}]}, "volume name"),
    ("mounts-no-target", {"Mounts": [{"Type": "tmpfs"}]}, "Target"),
    ("mounts-bind-missing", {"Mounts": [{"Type": "bind", "Source": "/hostile/none", "Target": "/x"}]}, "not exist"),
    ("mounts-long-volume", {"Mounts": [{"Type": "volume", "Source": "v" * 300, "Target": "/x"}]}, "255"),
    ("mounts-duplicate", {"Binds": ["/tmp:/x"], "Mounts": [{"Type": "tmpfs", "Target": "/x"}]}, "Duplicate"),
    ("tmpfs-relative", {"Tmpfs": {"relative": ""}}, "destination"),
    ("tmpfs-root", {"Tmpfs": {"/": ""}}, "destination"),
    ("volumes-from-missing", {"VolumesFrom": ["hostile-missing"]}, "No such container"),
    ("devices-relative", {"Devices": [{"PathOnHost": "null", "PathInContainer": "/dev/x"}]}, "device"),
    ("devices-mode", {"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "xyz"}]}, "device mode"),
    ("device-cgroup-rule", {"DeviceCgroupRules": ["x 1:2 rwm"]}, "device cgroup format"),
    (
        "device-requests",
        {"DeviceRequests": [{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}]},
        "device driver",
    ),
    ("ulimit-name", {"Ulimits": [{"Name": "hostile", "Soft": 1, "Hard": 1}]}, "ulimit"),
    ("ulimit-soft-above-hard", {"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 5}]}, "soft limit"),
    ("storage-opt", {"StorageOpt": {"size": "1G"}}, "storage-opt"),
    ("security-opt-shape", {"SecurityOpt": ["hostile"]}, "security-opt"),
    ("security-opt-key", {"SecurityOpt": ["hostile=1"]}, "security-opt"),
    ("security-opt-nnp", {"SecurityOpt": ["no-new-privileges=maybe"]}, "security-opt"),
    ("masked-paths-relative", {"MaskedPaths": ["proc/kcore"]}, "MaskedPaths"),
    ("cpu-count-type", {"CpuCount": "2"}, "CpuCount"),
    ("cgroup-parent-nul", {"CgroupParent": "a\u0000b"}, "NUL"),
]
for name, hc, msg in VALUES_HC:
    create(f"hc-{name}", hc=hc, status=(400, 404), message=msg)
# Annotations exist from API 1.43 (below, dockerd drops them)
add(
    "values",
    "hc-annotation-empty-key",
    "POST",
    "/v1.43/containers/create",
    dict(BASE, HostConfig={"Annotations": {"": "x"}}),
    400,
    "Annotations",
)
VALUES_CONFIG = [
    ("stop-signal", {"StopSignal": "SIGHOSTILE"}, "Invalid signal"),
    ("stop-signal-zero", {"StopSignal": "0"}, "Invalid signal"),
    ("stop-signal-high", {"StopSignal": "65"}, "Invalid signal"),
    ("exposed-port-range", {"ExposedPorts": {"70000/tcp": {}}}, "invalid port specification"),
    ("exposed-port-proto", {"ExposedPorts": {"80/quic": {}}}, "invalid proto"),
    ("exposed-port-text", {"ExposedPorts": {"http": {}}}, "invalid port specification"),
    ("working-dir-relative", {"WorkingDir": "relative"}, "working directory"),
    ("working-dir-nul", {"WorkingDir": "/a\u0000b"}, "NUL"),
    ("env-empty-name", {"Env": ["=value"]}, "invalid environment variable"),
    ("env-empty", {"Env": [""]}, "invalid environment variable"),
    ("env-nul", {"Env": ["A=\u0000"]}, "NUL"),
    ("cmd-nul", {"Cmd": ["sh", "-c", "a\u0000b"]}, "NUL"),
    ("entrypoint-nul", {"Entrypoint": ["/bin/\u0000sh"]}, "NUL"),
    ("hostname-long", {"Hostname": "h" * 65}, "too long"),
    ("hostname-nul", {"Hostname": "a\u0000b"}, "NUL"),
    ("domainname-long", {"Domainname": "d" * 65}, "too long"),
    ("healthcheck-interval", {"Healthcheck": {"Test": ["CMD", "true"], "Interval": 1}}, "Interval"),
    ("healthcheck-timeout", {"Healthcheck": {"Test": ["CMD", "true"], "Timeout": 5}}, "Timeout"),
    ("healthcheck-retries", {"Healthcheck": {"Test": ["CMD", "true"], "Retries": -1}}, "Retries"),
    ("healthcheck-type", {"Healthcheck": {"Test": ["SHELL", "true"]}}, "Healthcheck"),
    ("volumes-relative", {"Volumes": {"data": {}}}, "absolute"),
    ("volumes-nul", {"Volumes": {"/da\u0000ta": {}}}, "NUL"),
    ("hostname-with-container-net", {"Hostname": "h", "HostConfig": {"NetworkMode": "container:{s}"}}, "conflicting"),
    (
        "expose-with-container-net",
        {"ExposedPorts": {"80/tcp": {}}, "HostConfig": {"NetworkMode": "container:{s}"}},
        "conflicting",
    ),
    ("endpoint-missing-network", {"NetworkingConfig": {"EndpointsConfig": {"hostile-no-such-net": {}}}}, "not found"),
    ("image-missing", {"Image": "hostile/no-such-image:latest"}, "No such image"),
    ("image-empty", {"Image": ""}, "No such image"),
]
for name, extra, msg in VALUES_CONFIG:
    create(f"config-{name}", extra, status=(400, 404), message=msg)
for name, body, msg in (
    ("cpu-shares-negative", {"CpuShares": -5}, "CpuShares"),
    ("memory-small", {"Memory": 1}, "Minimum memory"),
    ("memory-negative", {"Memory": -1}, "Minimum memory"),
    ("swap-negative", {"MemorySwap": -5}, "MemorySwap"),
    ("quota-negative", {"CpuQuota": -5}, "CpuQuota"),
    ("cpuset", {"CpusetCpus": "9"}, "not available"),
    ("nanocpus", {"NanoCpus": -1}, "Range of CPUs"),
    ("period", {"CpuPeriod": -1}, "cfs period"),
    ("kernel-memory", {"KernelMemory": -1}, "KernelMemory"),
    ("restart-policy", {"RestartPolicy": {"Name": "sometimes"}}, "restart policy"),
    ("retries-negative", {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}}, "negative"),
    ("blkio-weight", {"BlkioWeight": 5}, "blkio weight"),
    ("swappiness", {"MemorySwappiness": 500}, "swappiness"),
    ("ulimits", {"Ulimits": [{"Name": "hostile", "Soft": 1, "Hard": 1}]}, "ulimit"),
):
    add("values", f"update-{name}", "POST", "/v1.41/containers/{c}/update", body, 400, msg)
for name, body, msg in (
    ("no-cmd", {"Cmd": []}, "No exec command specified"),
    ("cmd-nul", {"Cmd": ["a\u0000b"]}, "NUL"),
    ("env-empty-name", {"Cmd": ["true"], "Env": ["=x"]}, "environment variable"),
    ("env-nul", {"Cmd": ["true"], "Env": ["A=\u0000"]}, "NUL"),
    ("workdir-relative", {"Cmd": ["true"], "WorkingDir": "rel"}, "working directory"),
    ("user-nul", {"Cmd": ["true"], "User": "ro\u0000ot"}, "NUL"),
):
    add("values", f"exec-{name}", "POST", "/v1.41/containers/{c}/exec", body, 400, msg)
add("values", "exec-on-stopped", "POST", "/v1.41/containers/{s}/exec", {"Cmd": ["true"]}, 409, "is not running")
for name, body, status, msg in (
    ("name-missing", {}, 400, "Name|name"),
    ("name-empty", {"Name": ""}, 400, "name"),
    ("predefined", {"Name": "bridge"}, 403, "pre-defined"),
    ("driver", {"Name": "hostile-net-d", "Driver": "hostile"}, 404, "plugin"),
    ("subnet", {"Name": "hostile-net-s", "IPAM": {"Config": [{"Subnet": "not-a-subnet"}]}}, 400, "CIDR|subnet"),
    (
        "gateway",
        {"Name": "hostile-net-g", "IPAM": {"Config": [{"Subnet": "10.213.250.0/24", "Gateway": "10.9.9.9"}]}},
        400,
        "gateway",
    ),
    ("options-nul", {"Name": "hostile-net-o", "Options": {"a": "b\u0000"}}, 400, "NUL"),
):
    add("values", f"network-{name}", "POST", "/v1.41/networks/create", body, status, msg)
for name, body, status, msg in (
    ("driver", {"Name": "hostile-vol-d", "Driver": "hostile"}, 404, "plugin"),
    ("option-key", {"Name": "hostile-vol-o", "DriverOpts": {"bogus": "1"}}, 400, "invalid option key"),
    ("option-size", {"Name": "hostile-vol-s", "DriverOpts": {"size": "1G"}}, 400, "quota"),
):
    add("values", f"volume-{name}", "POST", "/v1.41/volumes/create", body, status, msg)
add(
    "values",
    "connect-missing-container",
    "POST",
    "/v1.41/networks/{n}/connect",
    {"Container": "hostile-missing"},
    404,
    "No such container",
)
add(
    "values",
    "connect-missing-network",
    "POST",
    "/v1.41/networks/hostile-none/connect",
    {"Container": "{s}"},
    404,
    "not found",
)

# ---------------------------------------------------------------------------------------- names
BAD_NAMES = {
    "one-char": "a",
    "leading-dash": "-abc",
    "leading-dot": ".abc",
    "leading-underscore": "_abc",
    "space": "a b",
    "slash": "a/b",
    "trailing-newline": "abc\n",
    "nul": "a\x00b",
    "tab": "a\tb",
    "unicode": "caf\u00e9",
    "dollar": "a$b",
    "colon": "a:b",
    "long": "n" * 256,
    "very-long": "n" * 5000,
}
for name, bad in BAD_NAMES.items():
    add(
        "names",
        f"container-{name}",
        "POST",
        f"/v1.41/containers/create?name={q(bad)}",
        BASE,
        400,
        "Invalid container name",
    )
    add("names", f"rename-{name}", "POST", f"/v1.41/containers/{{s}}/rename?name={q(bad)}", None, 400, "name")
    add(
        "names", f"volume-{name}", "POST", "/v1.41/volumes/create", {"Name": bad}, 400, "volume name|invalid characters"
    )
    if name != "one-char":  # a one-character network name is valid, as in dockerd
        add("names", f"network-{name}", "POST", "/v1.41/networks/create", {"Name": bad}, 400, "network name")
add("names", "rename-empty", "POST", "/v1.41/containers/{s}/rename?name=", None, 400, "empty")
