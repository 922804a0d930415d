"""shimd's entry point: flags and daemon.json → Settings → the daemon."""

from __future__ import annotations

import asyncio
import logging
import sys

from shim import config


def main(argv: list[str] | None = None) -> int:
    try:
        settings = config.load(sys.argv[1:] if argv is None else argv)
    except config.ConfigError as e:
        print(f"shimd: {e}", file=sys.stderr)
        return 1
    level = config.python_log_level(settings.effective_log_level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from shim.app import StartupError, serve

    try:
        asyncio.run(serve(settings))
    except StartupError as e:
        print(f"shimd: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
