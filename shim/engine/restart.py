"""Engine layer: restart policies with dockerd's back-off (restartmanager/restartmanager.go).

The delay starts at 100 ms and doubles after each restart, up to one minute; a run
that lasted 10 s or more resets it. on-failure restarts only non-zero exits, at most
MaximumRetryCount times (0 = no limit); a container the user stopped or killed is not
restarted (ExitOnNext), whatever the policy.
"""

from __future__ import annotations

from typing import Any

DEFAULT_TIMEOUT = 0.1
MAX_TIMEOUT = 60.0
BACKOFF_MULTIPLIER = 2
RESET_AFTER = 10.0


class RestartManager:
    def __init__(self, count: int = 0) -> None:
        """`count`: the container's RestartCount. dockerd makes a container's manager from it
        (container.RestartManager: restartmanager.New(policy, RestartCount)), also for one that
        outlived a daemon restart: on-failure's MaximumRetryCount goes on counting from there."""
        self.timeout = 0.0
        self.count = count

    def reset(self) -> None:
        self.timeout = 0.0
        self.count = 0

    def should_restart(
        self, policy: dict[str, Any], exit_code: int, manually_stopped: bool, ran_for: float
    ) -> tuple[bool, float]:
        """(restart?, delay in seconds)."""
        name = policy.get("Name") or "no"
        if name == "no" or manually_stopped:
            return False, 0.0
        if ran_for >= RESET_AFTER:
            self.timeout = 0.0
        if self.timeout == 0:
            self.timeout = DEFAULT_TIMEOUT
        elif self.timeout < MAX_TIMEOUT:
            self.timeout *= BACKOFF_MULTIPLIER
        self.timeout = min(self.timeout, MAX_TIMEOUT)
        if name in ("always", "unless-stopped"):
            restart = True
        elif name == "on-failure":
            maximum = policy.get("MaximumRetryCount") or 0
            restart = exit_code != 0 and (maximum == 0 or self.count < maximum)
        else:
            restart = False
        if not restart:
            return False, 0.0
        self.count += 1
        return True, self.timeout
