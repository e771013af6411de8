"""python -m entrypoints.worker: an RQ worker on the service's queue, with RQ's scheduler for
retries with backoff. Jobs get their dependencies from the bootstrap."""

from __future__ import annotations

import sys

from rq import Worker

from adapters.redis_client import connect_redis
from entrypoints import logs
from entrypoints.bootstrap import current


def main() -> int:
    container = current()
    settings = container.settings
    logs.configure(settings.log_level)
    if settings.redis_url is None:
        print("the worker needs REDIS_URL (the embedded default runs jobs inline)", file=sys.stderr)
        return 2
    connection = connect_redis(settings.redis_url, timeout_s=None)
    worker = Worker([settings.rq_queue], connection=connection)
    worker.work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
