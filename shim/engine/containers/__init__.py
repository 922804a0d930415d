"""Engine layer: the container service, one room per concern.

- service.py: the public verbs (create, start, stop, kill, restart, pause, remove, rename,
  update, top, resize, wait, logs, attach…), each asking engine/state.py's table first;
- lifecycle.py: start and its rollback, exit watching, restart policy;
- recovery.py: the ordered steps of create and removal (with their intents) and daemon start:
  the store reconciled with the runtime, networking and volumes (docs/RELIABILITY.md);
- stopping.py: stop and kill (the signals, the grace time, a paused process thawed);
- update.py: `docker update` (resources and restart policy);
- waiters.py: wait conditions; streams.py: attach sessions and log readers;
- facts.py: what inspect and the list show; sizes.py: stats and sizes;
- record.py: the index of containers and each one's runtime record; core.py: what they share.
"""

from shim.engine.container_io import AttachSession
from shim.engine.containers.service import ContainerService
from shim.engine.model import ListQuery
from shim.engine.signals import parse_signal

__all__ = ["AttachSession", "ContainerService", "ListQuery", "parse_signal"]
