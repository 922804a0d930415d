"""engine/restart.py: dockerd's restart manager (policies, back-off, reset after 10 s of running)."""

from shim.engine.containers.record import Registry
from shim.engine.model import Container
from shim.engine.restart import RestartManager

ALWAYS = {"Name": "always"}


def test_backoff_doubles_from_100ms_to_a_minute():
    rm = RestartManager()
    delays = [rm.should_restart(ALWAYS, 0, False, 0.5)[1] for _ in range(12)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8] and delays[-1] == 60.0


def test_a_long_run_resets_the_backoff():
    rm = RestartManager()
    for _ in range(5):
        rm.should_restart(ALWAYS, 1, False, 1.0)
    assert rm.should_restart(ALWAYS, 1, False, 10.0) == (True, 0.1)


def test_policies():
    assert RestartManager().should_restart({"Name": "no"}, 1, False, 0) == (False, 0.0)
    assert RestartManager().should_restart({"Name": ""}, 1, False, 0) == (False, 0.0)
    assert RestartManager().should_restart({"Name": "unless-stopped"}, 0, False, 0)[0]
    assert not RestartManager().should_restart({"Name": "unless-stopped"}, 0, True, 0)[0]
    assert not RestartManager().should_restart(ALWAYS, 0, True, 0)[0]  # stopped by the user: ExitOnNext
    rm = RestartManager()
    on_failure = {"Name": "on-failure", "MaximumRetryCount": 2}
    assert not rm.should_restart(on_failure, 0, False, 0)[0]
    assert [rm.should_restart(on_failure, 3, False, 0)[0] for _ in range(3)] == [True, True, False]
    unlimited = RestartManager()
    assert all(unlimited.should_restart({"Name": "on-failure"}, 1, False, 0)[0] for _ in range(20))


def test_on_failure_counts_on_from_the_containers_restart_count():
    """dockerd: container.RestartManager() is restartmanager.New(policy, RestartCount), so a container
    that outlived a daemon restart with RestartCount 2 of on-failure:2 is not restarted again."""
    on_failure = {"Name": "on-failure", "MaximumRetryCount": 2}
    assert not RestartManager(2).should_restart(on_failure, 1, False, 0)[0]
    rm = RestartManager(1)
    assert [rm.should_restart(on_failure, 1, False, 0)[0] for _ in range(2)] == [True, False]


def test_a_loaded_containers_record_starts_from_its_restart_count():
    c = Container(
        id="a" * 64, name="flap", created=0, path="sh", args=[], config={}, host_config={}, networking_config={},
        image_id="sha256:" + "b" * 64, restart_count=2,
    )  # fmt: skip
    table = Registry()
    table.add(c)
    assert table.live(c.id).restarts.count == 2
