"""Containers: run, exit codes, inspect, ps, the process's environment, lifecycle, limits."""

import json
import os
import re
import socket
import time
import urllib.parse

import pytest

from compat.lib import V

pytestmark = pytest.mark.feature("containers")


@pytest.fixture(scope="module")
def sleeper(eng):
    """One long-running container shared by read-only scenarios of this module."""
    name = eng.shared_name("sleep")
    eng.out("run", "-d", "--name", name, "--label", "compat.role=sleeper", "-e", "SHARED=1", "busybox", "sleep", "600")
    yield name
    eng.cli("rm", "-f", name)


def run(eng, *args, **kw):
    return eng.cli("run", "--rm", *args, **kw)


# ------------------------------------------------------------------ run and exit codes


def test_run_echo(eng):
    """`docker run --rm busybox echo hello` prints hello and exits 0."""
    p = run(eng, "busybox", "echo", "hello")
    assert (p.returncode, p.stdout) == (0, "hello\n"), p.stderr


def test_run_exit_code(eng):
    """`docker run --rm busybox sh -c 'exit 3'` exits 3."""
    assert run(eng, "busybox", "sh", "-c", "exit 3").returncode == 3


def test_run_exit_code_in_inspect(eng):
    """After `sh -c 'exit 3'`, inspect shows Status exited, ExitCode 3, not running, finished after start."""
    name = eng.name("c")
    assert eng.cli("run", "--name", name, "busybox", "sh", "-c", "exit 3").returncode == 3
    st = eng.inspect(name)["State"]
    assert (st["Status"], st["Running"], st["ExitCode"], st["Pid"]) == ("exited", False, 3, 0)
    assert st["StartedAt"] > "2000" and st["FinishedAt"] > "2000"


def test_run_missing_command_127(eng):
    """A missing command: `docker run` exits 127 and prints the exec error."""
    p = run(eng, "busybox", "nosuchcmd")
    assert p.returncode == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in p.stderr


def test_run_not_executable_126(eng):
    """A file that is not executable: `docker run` exits 126 with permission denied."""
    p = run(eng, "busybox", "/etc/passwd")
    assert p.returncode == 126
    assert "permission denied" in p.stderr


def test_run_missing_command_state(eng):
    """After a failed start the container is not running, State.Error holds the reason, ExitCode 127."""
    name = eng.name("c")
    assert eng.cli("run", "--name", name, "busybox", "nosuchcmd").returncode == 127
    st = eng.inspect(name)["State"]
    assert st["Running"] is False and st["Status"] in ("created", "exited")
    assert "executable file not found" in st["Error"]
    assert st["ExitCode"] == 127


def test_run_stdout_stderr_separate(eng):
    """stdout and stderr of the container reach the CLI's stdout and stderr."""
    p = run(eng, "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (p.stdout, p.stderr) == ("out\n", "err\n")


def test_run_stdin_piped(eng):
    """`echo piped | docker run --rm -i busybox cat` prints piped."""
    p = run(eng, "-i", "busybox", "cat", input="piped\n")
    assert (p.returncode, p.stdout) == (0, "piped\n"), p.stderr


def test_run_without_i_gets_no_stdin(eng):
    """Without -i the container's stdin is empty: cat ends at once."""
    p = run(eng, "busybox", "cat", input="ignored\n", timeout=30)
    assert (p.returncode, p.stdout) == (0, "")


def test_run_missing_image_no_pull(eng):
    """`docker run --pull never <missing>` exits 125 with No such image."""
    name = eng.name("nosuch")
    p = run(eng, "--pull", "never", name)
    assert p.returncode == 125
    assert f"No such image: {name}:latest" in p.stderr


def test_run_default_cmd_from_image(eng):
    """With no command the image's CMD (sh) runs: a script on stdin is executed."""
    p = run(eng, "-i", "busybox", input="echo from-sh\n")
    assert p.stdout == "from-sh\n"


def test_run_entrypoint_override(eng):
    """--entrypoint echo with args prints the args."""
    p = run(eng, "--entrypoint", "echo", "busybox", "a", "b")
    assert p.stdout == "a b\n"


def test_run_tty_raw_output(eng):
    """`docker run -t busybox tty` runs on a pty: prints /dev/pts/0 with a CRLF."""
    p = run(eng, "-t", "busybox", "tty", binary=True)
    assert p.stdout == b"/dev/pts/0\r\n"


def test_start_attach_created(eng):
    """`docker create` then `docker start -a` prints the output and exits with the code."""
    name = eng.name("c")
    eng.out("create", "--name", name, "busybox", "sh", "-c", "echo started; exit 4")
    assert eng.inspect(name)["State"]["Status"] == "created"
    p = eng.cli("start", "-a", name)
    assert (p.returncode, p.stdout) == (4, "started\n")


def test_rm_flag_removes(eng):
    """`docker run --rm` removes the container once it exits."""
    name = eng.name("c")
    assert eng.cli("run", "--rm", "--name", name, "busybox", "true").returncode == 0
    p = eng.cli("inspect", name)
    assert p.returncode == 1


def test_wait_prints_code(eng):
    """`docker wait` prints the exit code of a container that exits later."""
    name = eng.run_d("busybox", "sh", "-c", "sleep 0.5; exit 5")
    p = eng.cli("wait", name)
    assert (p.returncode, p.stdout.strip()) == (0, "5")


def test_wait_before_start_http(eng):
    """POST wait?condition=next-exit before start answers at once and its body arrives at the exit."""
    name = eng.name("c")
    eng.out("create", "--name", name, "busybox", "sh", "-c", "exit 6")
    conn, resp = eng.stream("POST", f"{V}/containers/{name}/wait?condition=next-exit")
    try:
        assert resp.status == 200
        assert eng.http("POST", f"{V}/containers/{name}/start").status == 204
        assert json.loads(resp.read()) == {"Error": None, "StatusCode": 6}
    finally:
        conn.close()


def test_wait_removed_condition(eng):
    """wait?condition=removed on an --rm container returns once it is gone."""
    name = eng.name("c")
    eng.out("create", "--rm", "--name", name, "busybox", "sh", "-c", "exit 2")
    conn, resp = eng.stream("POST", f"{V}/containers/{name}/wait?condition=removed")
    try:
        assert eng.http("POST", f"{V}/containers/{name}/start").status == 204
        assert json.loads(resp.read())["StatusCode"] == 2
    finally:
        conn.close()
    assert eng.http("GET", f"{V}/containers/{name}/json").status == 404


# ------------------------------------------------------------------ inspect and ps


def test_inspect_shape(eng, sleeper):
    """inspect: Name with a slash, Path/Args, Config.Image, Image ID of busybox, running State, Pid."""
    c = eng.inspect(sleeper)
    assert c["Name"] == "/" + sleeper
    assert (c["Path"], c["Args"]) == ("sleep", ["600"])
    assert c["Config"]["Image"] == "busybox"
    assert c["Image"] == eng.inspect("busybox", "image")["Id"]
    st = c["State"]
    assert (st["Status"], st["Running"], st["Paused"], st["Dead"]) == ("running", True, False, False)
    assert st["Pid"] > 0 and os.path.exists(f"/proc/{st['Pid']}")
    assert len(c["Id"]) == 64 and c["RestartCount"] == 0
    assert c["HostConfig"]["NetworkMode"] == "default"


def test_inspect_config_env_and_labels(eng, sleeper):
    """inspect Config: Env has -e and the image PATH; Labels has --label."""
    cfg = eng.inspect(sleeper)["Config"]
    assert "SHARED=1" in cfg["Env"]
    assert any(e.startswith("PATH=") for e in cfg["Env"])
    assert cfg["Labels"]["compat.role"] == "sleeper"


def test_inspect_format_template(eng, sleeper):
    """`docker inspect -f '{{.State.Status}} {{.Config.Cmd}}'` renders."""
    assert eng.out("inspect", "-f", "{{.State.Status}} {{.Config.Cmd}}", sleeper) == "running [sleep 600]"


def test_inspect_by_short_id(eng, sleeper):
    """A container can be addressed by a unique ID prefix."""
    cid = eng.inspect(sleeper)["Id"]
    assert eng.inspect(cid[:10])["Id"] == cid


def test_ps_lists_running(eng, sleeper):
    """`docker ps` lists the running container with its name, image and command."""
    out = eng.out("ps", "--filter", f"name={sleeper}", "--format", "{{.Names}}|{{.Image}}|{{.Command}}")
    assert out == f'{sleeper}|busybox|"sleep 600"'


def test_ps_excludes_exited_unless_all(eng):
    """An exited container is in `docker ps -a` but not in `docker ps`."""
    name = eng.name("c")
    eng.cli("run", "--name", name, "busybox", "true")
    assert eng.out("ps", "--filter", f"name={name}", "-q") == ""
    assert eng.out("ps", "-a", "--filter", f"name={name}", "--format", "{{.Names}}") == name


def test_ps_status_text(eng):
    """`docker ps -a` shows 'Exited (3) ...' for an exited container."""
    name = eng.name("c")
    eng.cli("run", "--name", name, "busybox", "sh", "-c", "exit 3")
    status = eng.out("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}")
    assert status.startswith("Exited (3) ")


def test_ps_filter_exited_code(eng):
    """`docker ps -a --filter exited=3` matches exactly the container that exited 3."""
    a, b = eng.name("c"), eng.name("c")
    eng.cli("run", "--name", a, "busybox", "sh", "-c", "exit 3")
    eng.cli("run", "--name", b, "busybox", "true")
    out = eng.out(
        "ps", "-a", "--filter", "exited=3", "--filter", f"name={eng.scenario_prefix}", "--format", "{{.Names}}"
    )
    assert out.splitlines() == [a]


def test_ps_filter_status(eng, sleeper):
    """--filter status=running / status=created select by state."""
    created = eng.name("c")
    eng.out("create", "--name", created, "busybox", "true")
    out = eng.out("ps", "-a", "--filter", "status=created", "--format", "{{.Names}}")
    assert created in out.splitlines() and sleeper not in out.splitlines()
    out = eng.out("ps", "--filter", "status=running", "--format", "{{.Names}}")
    assert sleeper in out.splitlines()


def test_ps_filter_label(eng, sleeper):
    """--filter label=compat.role=sleeper selects the labelled container."""
    out = eng.out("ps", "--filter", "label=compat.role=sleeper", "--format", "{{.Names}}")
    assert sleeper in out.splitlines()


def test_ps_filter_ancestor(eng, sleeper):
    """--filter ancestor=busybox lists containers of that image."""
    out = eng.out("ps", "--filter", "ancestor=busybox", "--format", "{{.Names}}")
    assert sleeper in out.splitlines()


def test_ps_no_trunc_ids(eng, sleeper):
    """`docker ps -q --no-trunc` prints full 64-hex IDs."""
    out = eng.out("ps", "-q", "--no-trunc", "--filter", f"name={sleeper}")
    assert re.fullmatch(r"[0-9a-f]{64}", out)


def test_containers_json_shape(eng, sleeper):
    """GET /containers/json items: Id, Names with slash, Image, ImageID, Command, State, Status, Labels."""
    flt = urllib.parse.quote(json.dumps({"name": [sleeper]}))
    items = eng.http("GET", f"{V}/containers/json?filters={flt}").json()
    assert len(items) == 1
    c = items[0]
    assert c["Names"] == ["/" + sleeper]
    assert c["Image"] == "busybox" and c["ImageID"].startswith("sha256:")
    assert c["Command"] == "sleep 600"
    assert c["State"] == "running" and c["Status"].startswith("Up ")
    assert c["Labels"]["compat.role"] == "sleeper"


def test_create_name_conflict(eng, sleeper):
    """Creating a second container with a used name: 409 with dockerd's wording."""
    cid = eng.inspect(sleeper)["Id"]
    r = eng.http("POST", f"{V}/containers/create?name={sleeper}", body={"Image": "busybox"})
    assert r.status == 409
    assert r.message == (
        f'Conflict. The container name "/{sleeper}" is already in use by container "{cid}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )


def test_create_response(eng):
    """POST /containers/create answers 201 {"Id": 64 hex, "Warnings": []}."""
    name = eng.name("c")
    r = eng.http("POST", f"{V}/containers/create?name={name}", body={"Image": "busybox", "Cmd": ["true"]})
    assert r.status == 201
    body = r.json()
    assert re.fullmatch(r"[0-9a-f]{64}", body["Id"]) and body["Warnings"] in ([], None)


def test_create_ignores_unknown_fields(eng):
    """A create body with fields the engine doesn't know (newer API) is accepted."""
    name = eng.name("c")
    r = eng.http(
        "POST",
        f"{V}/containers/create?name={name}",
        body={
            "Image": "busybox",
            "Cmd": ["true"],
            "SomeFutureField": {"x": 1},
            "HostConfig": {"GwPriority": 0, "NotAThing": True},
        },
    )
    assert r.status == 201, r


# ------------------------------------------------------------------ the process's environment


@pytest.mark.feature("runtime_config")
def test_env_and_hostname(eng):
    """-e reaches the process; HOSTNAME and hostname are the short container ID."""
    name = eng.name("c")
    out = eng.out("run", "--name", name, "-e", "A=1", "busybox", "sh", "-c", 'echo "$A $HOSTNAME $(hostname)"')
    cid = eng.inspect(name)["Id"]
    assert out == f"1 {cid[:12]} {cid[:12]}"


@pytest.mark.feature("runtime_config")
def test_env_path_default(eng):
    """The process sees the image's PATH."""
    assert (
        run(eng, "busybox", "sh", "-c", "echo $PATH").stdout.strip()
        == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )


@pytest.mark.feature("runtime_config")
def test_hostname_flag(eng):
    """--hostname sets the container's hostname."""
    assert run(eng, "--hostname", "myhost", "busybox", "hostname").stdout == "myhost\n"


@pytest.mark.feature("runtime_config")
def test_workdir_created(eng):
    """-w /new/dir: the directory is created and is the working directory."""
    assert run(eng, "-w", "/new/dir", "busybox", "pwd").stdout == "/new/dir\n"


@pytest.mark.feature("runtime_config")
def test_user_uid_gid(eng):
    """--user 1000:1000 runs as that uid and gid."""
    assert run(eng, "--user", "1000:1000", "busybox", "id").stdout.startswith("uid=1000 gid=1000")


@pytest.mark.feature("runtime_config")
def test_user_by_name(eng):
    """--user nobody resolves the name from the image's /etc/passwd."""
    assert run(eng, "--user", "nobody", "busybox", "id", "-u").stdout == "65534\n"


@pytest.mark.feature("runtime_config")
def test_user_unknown(eng):
    """--user nosuchuser fails to start with dockerd's message, exit 125."""
    p = run(eng, "--user", "nosuchuser", "busybox", "true")
    assert p.returncode == 125
    assert "unable to find user nosuchuser: no matching entries in passwd file" in p.stderr


@pytest.mark.feature("runtime_config")
def test_read_only_rootfs(eng):
    """--read-only: writing to / fails with Read-only file system."""
    p = run(eng, "--read-only", "busybox", "touch", "/x")
    assert p.returncode == 1
    assert "Read-only file system" in p.stderr


@pytest.mark.feature("runtime_config")
def test_rootfs_writable_by_default(eng):
    """Without --read-only the root filesystem is writable."""
    assert run(eng, "busybox", "sh", "-c", "echo x > /x && cat /x").stdout == "x\n"


@pytest.mark.feature("runtime_config")
def test_default_capabilities(eng):
    """The default capability set is Docker's (CapEff 00000000a80425fb)."""
    out = run(eng, "busybox", "grep", "CapEff", "/proc/self/status").stdout
    assert out.split() == ["CapEff:", "00000000a80425fb"]


@pytest.mark.feature("runtime_config")
def test_cap_drop_all(eng):
    """--cap-drop ALL leaves no effective capability; chown is refused."""
    p = run(eng, "--cap-drop", "ALL", "busybox", "sh", "-c", "grep CapEff /proc/self/status; chown nobody /tmp")
    assert "CapEff:\t0000000000000000" in p.stdout
    assert p.returncode == 1 and "Operation not permitted" in p.stderr


@pytest.mark.feature("runtime_config")
def test_cap_add(eng):
    """--cap-add SYS_ADMIN adds bit 21 to the default set."""
    out = run(eng, "--cap-add", "SYS_ADMIN", "busybox", "grep", "CapEff", "/proc/self/status").stdout
    assert int(out.split()[1], 16) == 0xA80425FB | (1 << 21)


@pytest.mark.feature("runtime_config")
def test_init_is_pid1(eng):
    """--init: an init process is PID 1, the command is not."""
    out = run(eng, "--init", "busybox", "sh", "-c", "echo $$; cat /proc/1/comm").stdout.split()
    assert out[0] != "1" and out[1] != "sh"


@pytest.mark.feature("runtime_config")
def test_command_is_pid1(eng):
    """Without --init the command is PID 1."""
    assert run(eng, "busybox", "sh", "-c", "echo $$").stdout == "1\n"


@pytest.mark.feature("runtime_config")
def test_shm_default_and_size(eng):
    """/dev/shm is 64 MiB by default and --shm-size changes it."""
    out = run(eng, "busybox", "df", "-k", "/dev/shm").stdout.splitlines()[-1].split()
    assert out[1] == "65536"
    out = run(eng, "--shm-size", "16m", "busybox", "df", "-k", "/dev/shm").stdout.splitlines()[-1].split()
    assert out[1] == "16384"


@pytest.mark.feature("runtime_config")
def test_ulimit_nofile(eng):
    """--ulimit nofile=1024:1024 is what the process sees."""
    assert run(eng, "--ulimit", "nofile=1024:1024", "busybox", "sh", "-c", "ulimit -n").stdout == "1024\n"


@pytest.mark.feature("runtime_config")
def test_sysctl(eng):
    """--sysctl net.core.somaxconn=1024 is set in the container's namespace."""
    assert (
        run(eng, "--sysctl", "net.core.somaxconn=1024", "busybox", "cat", "/proc/sys/net/core/somaxconn").stdout
        == "1024\n"
    )


@pytest.mark.feature("runtime_config")
def test_proc_readonly_paths(eng):
    """/proc/sys, /proc/bus, /proc/irq are mounted read-only as Docker does; writing is refused."""
    p = run(
        eng, "busybox", "sh", "-c", "grep -E ' /proc/(sys|bus|irq) ' /proc/mounts; echo 1 > /proc/sys/kernel/domainname"
    )
    mounts = {ln.split()[1]: ln.split()[3].split(",") for ln in p.stdout.splitlines()}
    for path in ("/proc/sys", "/proc/bus", "/proc/irq"):
        assert "ro" in mounts[path], p.stdout
    assert p.returncode != 0 and "Read-only file system" in p.stderr


@pytest.mark.feature("runtime_config")
def test_dev_default_devices(eng):
    """/dev has null, zero, random, urandom, tty and pts; no host disks."""
    out = run(eng, "busybox", "ls", "/dev").stdout.split()
    for d in ("null", "zero", "random", "urandom", "tty", "pts", "shm"):
        assert d in out
    assert not any(d.startswith(("sd", "nvme", "vd")) for d in out)


@pytest.mark.feature("net_modes")
def test_network_none(eng):
    """--network none: only the loopback interface."""
    out = run(eng, "--network", "none", "busybox", "ip", "-o", "link").stdout
    assert [ln.split(":")[1].strip() for ln in out.splitlines()] == ["lo"]


@pytest.mark.feature("net_modes")
def test_network_host(eng):
    """--network host: the container has the host's hostname and interfaces."""
    out = run(eng, "--network", "host", "busybox", "hostname").stdout.strip()
    assert out == socket.gethostname()


# ------------------------------------------------------------------ resources


@pytest.mark.feature("resources")
def test_memory_limit_applied(eng):
    """--memory 32m: inspect HostConfig.Memory and the cgroup limit inside agree."""
    name = eng.name("c")
    p = eng.cli(
        "run", "--name", name, "--memory", "32m", "busybox", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    )
    if p.returncode == 0 and p.stdout.strip():
        assert p.stdout.strip() == "33554432"
    assert eng.inspect(name)["HostConfig"]["Memory"] == 33554432


@pytest.mark.feature("resources")
def test_memory_minimum(eng):
    """--memory 4m is refused: 'Minimum memory limit allowed is 6MB', exit 125."""
    p = run(eng, "--memory", "4m", "busybox", "true")
    assert p.returncode == 125
    assert "Minimum memory limit allowed is 6MB" in p.stderr


@pytest.mark.feature("resources")
def test_oom_killed(eng):
    """A process above its memory limit is killed: exit 137, State.OOMKilled true."""
    name = eng.name("c")
    p = eng.cli(
        "run",
        "--name",
        name,
        "--memory",
        "8m",
        "--memory-swap",
        "8m",
        "busybox",
        "sh",
        "-c",
        'x=$(head -c 30000000 /dev/zero | tr "\\0" a); echo survived',
    )
    assert p.returncode == 137 and "survived" not in p.stdout
    st = eng.inspect(name)["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137


@pytest.mark.feature("resources")
def test_pids_limit(eng):
    """--pids-limit 10 is visible in the pids cgroup and in inspect."""
    name = eng.name("c")
    out = eng.out("run", "--name", name, "--pids-limit", "10", "busybox", "cat", "/sys/fs/cgroup/pids/pids.max")
    assert out == "10"
    assert eng.inspect(name)["HostConfig"]["PidsLimit"] == 10


@pytest.mark.feature("resources")
def test_update_memory(eng):
    """`docker update --memory 64m --memory-swap 128m` changes the running container's limit."""
    name = eng.run_d("--memory", "32m", "busybox", "sleep", "60")
    eng.out("update", "--memory", "64m", "--memory-swap", "128m", name)
    assert eng.inspect(name)["HostConfig"]["Memory"] == 67108864
    p = eng.cli("exec", name, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if p.returncode == 0:
        assert p.stdout.strip() == "67108864"


@pytest.mark.feature("resources")
def test_cpus_in_inspect(eng):
    """--cpus 0.5 is stored as HostConfig.NanoCpus 500000000."""
    name = eng.name("c")
    eng.out("create", "--name", name, "--cpus", "0.5", "busybox", "true")
    assert eng.inspect(name)["HostConfig"]["NanoCpus"] == 500000000


# ------------------------------------------------------------------ docker-py


def test_dockerpy_run_remove(client):
    """docker-py: containers.run('busybox', 'echo hi', remove=True) returns b'hi\\n'."""
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"


def test_dockerpy_run_error(client, eng):
    """docker-py: a non-zero exit raises ContainerError with the exit status."""
    import docker

    with pytest.raises(docker.errors.ContainerError) as ei:
        client.containers.run("busybox", ["sh", "-c", "exit 9"], name=eng.name("c"))
    assert ei.value.exit_status == 9


def test_dockerpy_detach_wait_logs(client, eng):
    """docker-py: run(detach=True), wait() -> StatusCode, logs() -> output."""
    c = client.containers.run("busybox", ["sh", "-c", "echo py-out"], detach=True, name=eng.name("c"))
    assert c.wait(timeout=30) == {"Error": None, "StatusCode": 0}
    assert c.logs() == b"py-out\n"
    c.reload()
    assert c.status == "exited"


def test_dockerpy_container_not_found(client, eng):
    """docker-py: containers.get(<missing>) raises NotFound, not ImageNotFound."""
    import docker

    with pytest.raises(docker.errors.NotFound) as ei:
        client.containers.get(eng.name("nosuch"))
    assert not isinstance(ei.value, docker.errors.ImageNotFound)


def test_dockerpy_list_filters(client, sleeper):
    """docker-py: containers.list(filters={'label': ...}) finds the labelled container."""
    names = [c.name for c in client.containers.list(filters={"label": "compat.role=sleeper"})]
    assert sleeper in names


# ------------------------------------------------------------------ lifecycle

TRAP = "trap 'exit 7' TERM; trap 'exit 9' USR1; trap 'exit 11' HUP; echo ready; while :; do sleep 0.1; done"


def run_trap(eng, *opts):
    """A container running TRAP, returned once its traps are set (a signal that comes before the
    shell has set them kills it with the default action: 137, 138, 129 instead of 7, 9, 11)."""
    name = eng.run_d(*opts, "busybox", "sh", "-c", TRAP)
    eng.wait_for(lambda: "ready" in eng.cli("logs", name).stdout, what=f"{name} ready")
    return name


@pytest.mark.feature("lifecycle")
def test_stop_timeout_kills(eng):
    """`docker stop -t 1` of a process that ignores TERM: killed, ExitCode 137."""
    name = eng.run_d("busybox", "sleep", "300")
    assert eng.cli("stop", "-t", "1", name).stdout.strip() == name
    st = eng.inspect(name)["State"]
    assert (st["Status"], st["ExitCode"]) == ("exited", 137)


@pytest.mark.feature("lifecycle")
def test_stop_delivers_term(eng):
    """`docker stop` sends SIGTERM first: a trap that exits 7 gives ExitCode 7."""
    name = run_trap(eng)
    eng.out("stop", "-t", "10", name)
    assert eng.inspect(name)["State"]["ExitCode"] == 7


@pytest.mark.feature("lifecycle")
def test_stop_signal_option(eng):
    """--stop-signal USR1 makes `docker stop` send USR1 (trap exits 9)."""
    name = run_trap(eng, "--stop-signal", "USR1")
    eng.out("stop", "-t", "10", name)
    assert eng.inspect(name)["State"]["ExitCode"] == 9
    assert eng.inspect(name)["Config"]["StopSignal"] == "USR1"


@pytest.mark.feature("lifecycle")
@pytest.mark.api("1.42")
def test_stop_signal_param_v142(eng):
    """From /v1.42 POST stop?signal=USR1 sends that signal instead of the stop signal (trap exits 9)."""
    name = run_trap(eng)
    assert eng.http("POST", f"/v1.42/containers/{name}/stop?signal=USR1&t=10").status == 204
    assert eng.inspect(name)["State"]["ExitCode"] == 9


@pytest.mark.feature("lifecycle")
def test_stop_http_204_then_304(eng):
    """POST stop answers 204, and 304 with an empty body on an already stopped container."""
    name = eng.run_d("busybox", "sleep", "300")
    assert eng.http("POST", f"{V}/containers/{name}/stop?t=0").status == 204
    r = eng.http("POST", f"{V}/containers/{name}/stop?t=0")
    assert (r.status, r.body) == (304, b"")


@pytest.mark.feature("lifecycle")
def test_kill_default_sigkill(eng):
    """`docker kill` sends SIGKILL: ExitCode 137."""
    name = run_trap(eng)
    assert eng.out("kill", name) == name
    eng.cli("wait", name)
    assert eng.inspect(name)["State"]["ExitCode"] == 137


@pytest.mark.feature("lifecycle")
def test_kill_signal_by_name(eng):
    """`docker kill -s HUP` delivers HUP (trap exits 11)."""
    name = run_trap(eng)
    eng.out("kill", "-s", "HUP", name)
    assert eng.out("wait", name) == "11"


@pytest.mark.feature("lifecycle")
def test_kill_signal_by_number_http(eng):
    """POST kill?signal=10 (USR1 by number) answers 204 and delivers it."""
    name = run_trap(eng)
    assert eng.http("POST", f"{V}/containers/{name}/kill?signal=10").status == 204
    assert eng.out("wait", name) == "9"


@pytest.mark.feature("lifecycle")
def test_kill_not_running(eng):
    """Killing a container that is not running: 409 'Container <id> is not running'."""
    name = eng.name("c")
    cid = eng.out("create", "--name", name, "busybox", "true")
    r = eng.http("POST", f"{V}/containers/{name}/kill")
    assert r.status == 409
    assert f"Container {cid} is not running" in r.message


@pytest.mark.feature("lifecycle")
def test_start_again_after_exit(eng):
    """`docker start` of an exited container runs it again: new StartedAt, output twice in logs."""
    name = eng.name("c")
    eng.cli("run", "--name", name, "busybox", "echo", "again")
    first = eng.inspect(name)["State"]["StartedAt"]
    assert eng.out("start", name) == name
    eng.out("wait", name)
    assert eng.inspect(name)["State"]["StartedAt"] > first
    assert eng.out("logs", name).splitlines() == ["again", "again"]


@pytest.mark.feature("lifecycle")
def test_restart_running(eng):
    """`docker restart -t 0` gives a new process and StartedAt; RestartCount stays 0."""
    name = eng.run_d("busybox", "sleep", "300")
    before = eng.inspect(name)["State"]
    assert eng.out("restart", "-t", "0", name) == name
    after = eng.inspect(name)["State"]
    assert after["Running"] and after["Pid"] != before["Pid"]
    assert after["StartedAt"] > before["StartedAt"]
    assert eng.inspect(name)["RestartCount"] == 0


@pytest.mark.feature("lifecycle")
def test_pause_unpause(eng):
    """pause: Status paused, Paused true, ps shows (Paused); unpause: running again."""
    name = eng.run_d("busybox", "sleep", "300")
    eng.out("pause", name)
    st = eng.inspect(name)["State"]
    assert (st["Status"], st["Paused"], st["Running"]) == ("paused", True, True)
    assert "(Paused)" in eng.out("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
    eng.out("unpause", name)
    st = eng.inspect(name)["State"]
    assert (st["Status"], st["Paused"]) == ("running", False)


@pytest.mark.feature("lifecycle")
def test_paused_process_is_frozen(eng):
    """A paused container's process makes no progress until unpause (counter file seen from the host)."""
    name = eng.run_d("busybox", "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done")
    pid = eng.inspect(name)["State"]["Pid"]
    counter = f"/proc/{pid}/root/tmp/n"
    eng.wait_for(lambda: os.path.exists(counter) and open(counter).read().strip(), what="counter")
    eng.out("pause", name)
    time.sleep(0.2)
    frozen = open(counter).read()
    time.sleep(0.5)
    assert open(counter).read() == frozen
    eng.out("unpause", name)
    eng.wait_for(lambda: open(counter).read() != frozen, timeout=10, what="progress after unpause")


@pytest.mark.feature("lifecycle")
def test_pause_not_running(eng):
    """Pausing an exited container: 409 'Container <id> is not running'."""
    name = eng.name("c")
    eng.cli("run", "--name", name, "busybox", "true")
    cid = eng.inspect(name)["Id"]
    r = eng.http("POST", f"{V}/containers/{name}/pause")
    assert r.status == 409 and r.message == f"Container {cid} is not running"


@pytest.mark.feature("lifecycle")
def test_rename(eng):
    """`docker rename a b`: b answers with the same ID, a is gone."""
    a, b = eng.name("a"), eng.name("b")
    cid = eng.out("create", "--name", a, "busybox", "true")
    eng.out("rename", a, b)
    assert eng.inspect(b)["Id"] == cid and eng.inspect(b)["Name"] == "/" + b
    assert eng.cli("inspect", a).returncode == 1


@pytest.mark.feature("lifecycle")
def test_rename_conflict(eng):
    """Renaming to a used name is a 409 conflict."""
    a, b = eng.name("a"), eng.name("b")
    eng.out("create", "--name", a, "busybox", "true")
    eng.out("create", "--name", b, "busybox", "true")
    r = eng.http("POST", f"{V}/containers/{a}/rename?name={b}")
    assert r.status == 409 and f'The container name "/{b}" is already in use' in r.message


@pytest.mark.feature("lifecycle")
def test_rm_running_refused(eng):
    """`docker rm` of a running container exits 1: stop it first or force remove."""
    name = eng.run_d("busybox", "sleep", "300")
    cid = eng.inspect(name)["Id"]
    p = eng.cli("rm", name)
    assert p.returncode == 1
    assert (
        f"You cannot remove a running container {cid}. Stop the container before attempting removal or force remove"
    ) in p.stderr


@pytest.mark.feature("lifecycle")
def test_rm_force_running(eng):
    """`docker rm -f` removes a running container and prints its name."""
    name = eng.run_d("busybox", "sleep", "300")
    assert eng.out("rm", "-f", name) == name
    assert eng.http("GET", f"{V}/containers/{name}/json").status == 404


@pytest.mark.feature("lifecycle")
def test_container_prune(eng):
    """`docker container prune -f --filter label=...` removes exited containers, keeps running ones."""
    label = f"compat.prune={eng.scenario_prefix}"
    dead = eng.name("dead")
    eng.cli("run", "--name", dead, "--label", label, "busybox", "true")
    alive = eng.run_d("--label", label, "busybox", "sleep", "300")
    dead_id = eng.inspect(dead)["Id"]
    p = eng.cli("container", "prune", "-f", "--filter", f"label={label}")
    assert p.returncode == 0, p.stderr
    assert dead_id in p.stdout and "Total reclaimed space" in p.stdout
    assert eng.cli("inspect", dead).returncode == 1
    assert eng.inspect(alive)["State"]["Running"]


@pytest.mark.feature("lifecycle", "top_stats")
def test_top(eng):
    """`docker top` lists the container's process with the usual columns."""
    name = eng.run_d("busybox", "sleep", "300")
    out = eng.out("top", name)
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["UID", "PID", "PPID"]
    assert any(r.endswith("sleep 300") for r in rows)


@pytest.mark.feature("lifecycle", "top_stats")
def test_top_http_shape(eng):
    """GET /containers/{id}/top answers Titles and Processes; the PID is the container's Pid."""
    name = eng.run_d("busybox", "sleep", "300")
    body = eng.http("GET", f"{V}/containers/{name}/top").json()
    pid_col = body["Titles"].index("PID")
    assert str(eng.inspect(name)["State"]["Pid"]) in [p[pid_col] for p in body["Processes"]]


@pytest.mark.feature("lifecycle", "top_stats")
def test_stats_no_stream(eng):
    """`docker stats --no-stream` prints one row for the container with its memory limit."""
    name = eng.run_d("--memory", "64m", "busybox", "sleep", "300")
    out = eng.out("stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}", name)
    n, mem, pids = out.split("|")
    assert n == name and mem.endswith("/ 64MiB") and pids == "1"


@pytest.mark.feature("lifecycle", "top_stats")
def test_stats_http_one_shot(eng):
    """GET stats?stream=0 answers one JSON object with real cpu, memory and pids figures."""
    name = eng.run_d("busybox", "sleep", "300")
    s = eng.http("GET", f"{V}/containers/{name}/stats?stream=0").json()
    assert s["name"] == "/" + name
    assert s["memory_stats"]["usage"] > 0
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert s["pids_stats"]["current"] == 1


@pytest.mark.feature("lifecycle")
def test_update_restart_policy(eng):
    """`docker update --restart on-failure:3` is visible in inspect."""
    name = eng.name("c")
    eng.out("create", "--name", name, "busybox", "true")
    eng.out("update", "--restart", "on-failure:3", name)
    assert eng.inspect(name)["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}


@pytest.mark.feature("restart_policy")
def test_restart_on_failure_count(eng):
    """--restart on-failure:2 with a failing command: restarted twice, then stays exited."""
    name = eng.run_d("--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1")
    eng.wait_for(
        lambda: (
            eng.inspect(name)["RestartCount"] == 2
            and not eng.inspect(name)["State"]["Running"]
            and not eng.inspect(name)["State"]["Restarting"]
        ),
        timeout=30,
        what="two restarts",
    )
    time.sleep(0.5)
    c = eng.inspect(name)
    assert c["RestartCount"] == 2 and c["State"]["ExitCode"] == 1


@pytest.mark.feature("restart_policy")
def test_restart_always(eng):
    """--restart always restarts a container that exits 0."""
    name = eng.run_d("--restart", "always", "busybox", "sh", "-c", "sleep 0.2")
    eng.wait_for(lambda: eng.inspect(name)["RestartCount"] >= 1, timeout=30, what="a restart")


@pytest.mark.feature("restart_policy")
def test_restart_no_policy_stays_exited(eng):
    """Without a policy a failed container is not restarted."""
    name = eng.run_d("busybox", "sh", "-c", "exit 1")
    eng.out("wait", name)
    time.sleep(0.5)
    c = eng.inspect(name)
    assert c["RestartCount"] == 0 and c["State"]["Status"] == "exited"


@pytest.mark.feature("healthcheck")
def test_healthcheck_healthy(eng):
    """--health-cmd true: State.Health.Status becomes healthy, with a log entry."""
    name = eng.run_d("--health-cmd", "true", "--health-interval", "1s", "busybox", "sleep", "300")
    eng.wait_for(
        lambda: (eng.inspect(name)["State"].get("Health") or {}).get("Status") == "healthy", timeout=20, what="healthy"
    )
    h = eng.inspect(name)["State"]["Health"]
    assert h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0
    assert "(healthy)" in eng.out("ps", "--filter", f"name={name}", "--format", "{{.Status}}")


@pytest.mark.feature("healthcheck")
def test_healthcheck_unhealthy(eng):
    """--health-cmd false --health-retries 1: the container turns unhealthy."""
    name = eng.run_d(
        "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1", "busybox", "sleep", "300"
    )
    eng.wait_for(
        lambda: (eng.inspect(name)["State"].get("Health") or {}).get("Status") == "unhealthy",
        timeout=20,
        what="unhealthy",
    )
    assert eng.inspect(name)["State"]["Health"]["FailingStreak"] >= 1


@pytest.mark.feature("lifecycle")
def test_dockerpy_stop_start(client, eng):
    """docker-py: container.stop(timeout=0) then start() brings it back to running."""
    c = client.containers.run("busybox", "sleep 300", detach=True, name=eng.name("c"))
    c.stop(timeout=0)
    c.reload()
    assert c.status == "exited"
    c.start()
    c.reload()
    assert c.status == "running"


# ------------------------------------------------------------------ more of what users type


@pytest.mark.feature("lifecycle")
def test_kill_invalid_signal(eng):
    """`docker kill -s NOSUCH`: exit 1, 'Invalid signal: NOSUCH'; the container keeps running."""
    name = eng.run_d("busybox", "sleep", "300")
    p = eng.cli("kill", "-s", "NOSUCH", name)
    assert p.returncode == 1 and "Invalid signal: NOSUCH" in p.stderr
    assert eng.state(name)["Running"] is True


@pytest.mark.feature("lifecycle")
def test_rename_invalid_name(eng):
    """Renaming to an invalid name is refused with the 'Invalid container name' message."""
    name = eng.name("c")
    eng.out("create", "--name", name, "busybox", "true")
    p = eng.cli("rename", name, "bad/name")
    assert p.returncode == 1
    assert "Invalid container name (/bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" in p.stderr
    assert eng.inspect(name)["Name"] == "/" + name


@pytest.mark.feature("lifecycle")
def test_rm_several_one_missing(eng):
    """`docker rm missing existing`: exit 1 naming the missing one; the existing one is removed."""
    name, missing = eng.name("c"), eng.name("nosuch")
    eng.out("create", "--name", name, "busybox", "true")
    p = eng.cli("rm", missing, name)
    assert p.returncode == 1
    assert f"No such container: {missing}" in p.stderr and p.stdout.strip() == name
    assert eng.cli("inspect", name).returncode == 1


def test_ps_last_and_limit(eng):
    """`docker ps -a -l` and `-n 1` show the most recently created container."""
    names = [eng.name("c") for _ in range(3)]
    for n in names:
        eng.out("create", "--name", n, "busybox", "true")
    assert eng.out("ps", "-a", "-l", "--format", "{{.Names}}") == names[-1]
    assert eng.out("ps", "-a", "-n", "2", "--format", "{{.Names}}").splitlines() == names[::-1][:2]


def test_ps_before_since(eng):
    """--filter before=X / since=X select containers created before / after X, newest first."""
    a, b, c = (eng.name("c") for _ in range(3))
    for n in (a, b, c):
        eng.out("create", "--name", n, "busybox", "true")
    mine = lambda out: [n for n in out.splitlines() if n in (a, b, c)]  # noqa: E731
    assert mine(eng.out("ps", "-a", "--filter", f"before={c}", "--format", "{{.Names}}")) == [b, a]
    assert mine(eng.out("ps", "-a", "--filter", f"since={a}", "--format", "{{.Names}}")) == [c, b]


@pytest.mark.feature("top_stats")
def test_top_ps_args(eng):
    """`docker top c -o pid,comm` passes the ps options: columns PID and COMMAND."""
    name = eng.run_d("busybox", "sleep", "300")
    header, *rows = eng.out("top", name, "-o", "pid,comm").splitlines()
    assert header.split() == ["PID", "COMMAND"]
    pid = eng.inspect(name)["State"]["Pid"]
    assert [str(pid), "sleep"] in [r.split() for r in rows]


def test_inspect_size(eng):
    """`docker inspect -s` reports SizeRw of what the container wrote (100000 bytes) and SizeRootFs."""
    name = eng.name("c")
    eng.out("run", "--name", name, "busybox", "sh", "-c", "head -c 100000 /dev/zero > /big")
    out = eng.out("inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", name)
    rw, rootfs = (int(x) for x in out.split())
    assert 100000 <= rw < 200000 and rootfs > rw


def test_ps_size(eng):
    """`docker ps -s` shows the writable layer's size and the virtual size."""
    name = eng.name("c")
    eng.out("run", "--name", name, "busybox", "sh", "-c", "head -c 100000 /dev/zero > /big")
    size = eng.out("ps", "-a", "-s", "--filter", f"name={name}", "--format", "{{.Size}}")
    assert size.startswith("100kB (virtual ")


def test_wait_several(eng):
    """`docker wait a b` prints each exit code, in order."""
    a = eng.run_d("busybox", "sh", "-c", "exit 2")
    b = eng.run_d("busybox", "sh", "-c", "sleep 0.3; exit 5")
    assert eng.out("wait", a, b).splitlines() == ["2", "5"]


@pytest.mark.feature("resources")
def test_update_stopped_container(eng):
    """`docker update --memory` works on a container that is not running; inspect shows it."""
    name = eng.name("c")
    eng.out("create", "--name", name, "busybox", "true")
    eng.out("update", "--memory", "64m", "--memory-swap", "128m", name)
    assert eng.inspect(name)["HostConfig"]["Memory"] == 67108864


def test_expose_in_inspect(eng):
    """--expose 80 is listed in Config.ExposedPorts as 80/tcp."""
    name = eng.name("c")
    eng.out("create", "--name", name, "--expose", "80", "busybox", "true")
    assert eng.inspect(name)["Config"]["ExposedPorts"] == {"80/tcp": {}}


@pytest.mark.feature("runtime_config")
def test_env_file(eng, tmp_path):
    """--env-file: each VAR=value line reaches the process."""
    f = tmp_path / "env"
    f.write_text("FROM_FILE=yes\nSECOND=2\n")
    assert run(eng, "--env-file", str(f), "busybox", "sh", "-c", "echo $FROM_FILE $SECOND").stdout == "yes 2\n"


# ------------------------------------------------------------------ what SDK users met (issue 14)


def test_create_unknown_log_driver_refused(eng):
    """An unknown log driver is a 400 at create, naming it (dockerd validates the log config there)."""
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"LogConfig": {"Type": "nosuchdriver", "Config": {}}}}
    r = eng.http("POST", f"{V}/containers/create?name={eng.name('ld')}", body)
    assert r.status == 400, r
    assert r.message == 'error looking up logging plugin nosuchdriver: plugin "nosuchdriver" not found'


@pytest.mark.feature("links")
def test_rm_link_removes_a_legacy_link(eng):
    """`docker rm --link PARENT/ALIAS` (DELETE /containers/PARENT/ALIAS?link=1) drops the link."""
    child = eng.run_d("busybox", "sleep", "300")
    parent = eng.name("par")
    eng.out("create", "--name", parent, "--link", f"{child}:al", "busybox", "true")
    p = eng.cli("rm", "--link", f"{parent}/al")
    assert p.returncode == 0, p.stderr
    assert not eng.inspect(parent)["HostConfig"]["Links"]


@pytest.mark.api("1.44")
def test_mac_address_given_at_run_is_the_containers(eng):
    """`docker run --mac-address` (the endpoint's MacAddress, API 1.44+): the container's eth0 has that MAC."""
    p = eng.cli("run", "--rm", "--mac-address", "02:42:ac:11:99:01", "busybox", "cat", "/sys/class/net/eth0/address")
    assert (p.returncode, p.stdout.strip()) == (0, "02:42:ac:11:99:01"), p.stderr


def test_mac_address_at_1_41_is_the_containers(eng):
    """At API 1.41 (the container-wide Config.MacAddress, raw: the CLI 28 refuses it below 1.44)."""
    name = eng.name("mac")
    body = {"Image": "busybox", "Cmd": ["sleep", "60"], "MacAddress": "02:42:ac:11:99:02"}
    assert eng.http("POST", f"{V}/containers/create?name={name}", body).status == 201
    assert eng.http("POST", f"{V}/containers/{name}/start").status == 204
    p = eng.cli("exec", name, "cat", "/sys/class/net/eth0/address")
    assert (p.returncode, p.stdout.strip()) == (0, "02:42:ac:11:99:02"), p.stderr
    assert eng.inspect(name)["NetworkSettings"]["MacAddress"] == "02:42:ac:11:99:02"
