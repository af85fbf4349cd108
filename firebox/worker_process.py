"""A worker process: `firebox serve --workers N` starts N of these, each running environments for it.

    python -m firebox.worker_process LISTENER_FD      (settings in the environment variable FIREBOX_WORKER_CONFIG)

It serves the server that connects to its socket (LISTENER_FD, listening at the data dir's
`workers/<id>.sock`), and ends when that server asks it to. If the server dies instead, it keeps its idle
environments for `reattach_s` for a restarted server to adopt, then ends them and exits. Ctrl-C in a
terminal reaches the whole process group; the server stops its workers in order, so a worker ignores SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from firebox.embedded import WORKER_CONFIG, serve_worker


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=os.environ.get("FIREBOX_LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = os.environ.pop(WORKER_CONFIG)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve_worker(config, int(sys.argv[1])))
    else:
        uvloop.run(serve_worker(config, int(sys.argv[1])))


if __name__ == "__main__":
    main()
