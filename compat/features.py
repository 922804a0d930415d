"""Which engine features each scenario needs, and which of them shim does not have yet.

A scenario names what it needs with ``@pytest.mark.feature("exec")`` (several are allowed).
When the engine under test is shim and a needed feature is still listed in PENDING_ON_SHIM,
the scenario is an xfail with ``strict=True``: the run stays green while the feature is
missing, and turns red as soon as the feature works, until its entry here is deleted.
"""

# feature -> (issue that builds it in shim, what it covers)
FEATURES = {
    # foundation (issue 2)
    "system": (2, "ping, version, info, API version negotiation"),
    "images": (2, "image store: load, save, import, tag, rmi, history, prune, inspect"),
    "events": (2, "the events endpoint: since/until/filters"),
    # runtime core (issue 3)
    "containers": (3, "create/start/run/wait/inspect/rm/ps: real containers through runc"),
    "lifecycle": (3, "stop/kill/restart/pause/unpause/rename/update/prune"),
    "start_semantics": (3, "304 on a running container, 409 when paused, start errors"),
    "legacy_start": (3, "start-time HostConfig for API < 1.24, 400 from 1.24"),
    "logs": (3, "container logs: stdcopy frames, -t, --tail, -f, --since"),
    "attach": (3, "attach: hijacked streams, stdin, logs replay"),
    "runtime_config": (3, "user, workdir, env, caps, read-only rootfs, init, tty, ulimits, sysctls"),
    "resources": (3, "cgroup limits: memory, pids, update"),
    "top_stats": (3, "docker top and docker stats"),
    "restart_policy": (3, "restart policies and back-off"),
    "healthcheck": (3, "health checks and State.Health"),
    "net_modes": (3, "--network none/host before real networking"),
    # networking (issue 4)
    "networks": (4, "user-defined bridge networks: create/inspect/rm/connect/disconnect"),
    "ports": (4, "published ports, docker port"),
    "dns": (4, "embedded DNS, /etc/hosts, /etc/resolv.conf, --add-host, --dns"),
    "links": (4, "legacy --link"),
    # volumes, exec, files (issue 5)
    "volumes": (5, "named/anonymous volumes: create/ls/inspect/rm/prune, copy-up"),
    "binds": (5, "bind mounts, --tmpfs, --mount"),
    "exec": (5, "docker exec: create/start/inspect, stdin, exit codes"),
    "cp": (5, "docker cp / archive endpoints"),
    "commit_export": (5, "commit, export, diff"),
    "system_df": (5, "docker system df"),
    # log drivers and rotation (issue 15)
    "log_drivers": (15, "json-file options and rotation, local, none, refused drivers and options, --details"),
    # the classic builder (issue 13)
    "build": (13, "docker build with DOCKER_BUILDKIT=0: instructions, cache, multi-stage, errors, docker-py"),
    # registries (issue 12)
    "registry": (12, "pull, push, login and remote inspect against local registries"),
    # confinement (issue 15)
    "security": (15, "seccomp (default profile, unconfined, custom), no-new-privileges, caps, masked paths"),
}

# Features shim lacks today. The lead deletes an entry when its feature lands.
PENDING_ON_SHIM: dict[str, int] = {}

assert set(PENDING_ON_SHIM) <= set(FEATURES)
