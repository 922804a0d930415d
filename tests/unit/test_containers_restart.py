"""engine/restart.py: dockerd's restart manager (policies, back-off, reset after 10 s of running)."""

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
