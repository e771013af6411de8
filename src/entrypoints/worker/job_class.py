"""Jobs receive their process's container: an RQ job class bound to one container hands it to
the job function as its first argument, so no job looks its dependencies up in a global."""

from __future__ import annotations

from typing import Any, ClassVar

from rq.job import Job


class ContainerJob(Job):
    container: ClassVar[Any] = None  # set on the class `bound_job_class` makes per container

    def _execute(self) -> Any:
        if not self.func:
            raise ValueError("cannot execute job: function is None")
        if self.container is None:
            raise RuntimeError("this job class is bound to no container")
        return self.func(self.container, *self.args, **self.kwargs)


def bound_job_class() -> type[ContainerJob]:
    """A job class of its own for one container (set `container` on it once built)."""
    return type("BoundJob", (ContainerJob,), {})
