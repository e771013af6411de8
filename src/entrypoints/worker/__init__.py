"""RQ jobs and the scheduler registration. Jobs take ids and build nothing themselves."""

# Job names the domain enqueues, resolved to the functions RQ imports in the worker.
JOB_PATHS: dict[str, str] = {}
