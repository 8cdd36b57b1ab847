""" "Teach it": fine-tuning on the corrections folder in a background thread, one job at a time.

A job reads ``DIR/<digit>/`` with :func:`nnscratch.images.folders.read_labelled_dir`, fine-tunes a
copy of the model that answers now with :func:`nnscratch.training.finetune.finetune` (MNIST training
digits replayed, MNIST test accuracy measured before and after), and, when the result is accepted,
saves it under a new name in the models folder and swaps it in atomically. Predictions keep being
answered by the old model until that swap. A refused result (MNIST would be forgotten) is reported and
nothing changes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnscratch.errors import NNScratchError
from nnscratch.web.bodies import BadRequest
from nnscratch.web.corrections import CorrectionStore
from nnscratch.web.localdata import LocalMnist
from nnscratch.web.model import LoadedModel, ModelHolder, load_model

log = logging.getLogger(__name__)
#: Finished jobs remembered for ``GET /api/finetune/{id}``.
KEEP_JOBS = 50


@dataclass
class Job:
    id: str
    base_model: str
    status: str = "running"  # running | done | refused | failed
    progress: float = 0.0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    result: dict[str, Any] | None = None
    saved: str | None = None
    error: str | None = None
    skipped: list[str] = field(default_factory=list)

    def set_progress(self, fraction: float) -> None:
        self.progress = max(self.progress, min(1.0, float(fraction)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "progress": self.progress,
            "base_model": self.base_model,
            "seconds": (self.finished or time.time()) - self.started,
            "result": self.result,
            "saved": self.saved,
            "error": self.error,
            "skipped": self.skipped,
        }


def _default_tune(*args: Any, **kwargs: Any) -> Any:
    from nnscratch.training.finetune import finetune

    return finetune(*args, **kwargs)


class FinetuneJobs:
    """Starts fine-tunes (409 while one runs) and keeps their state for polling."""

    def __init__(
        self,
        holder: ModelHolder,
        store: CorrectionStore,
        mnist: LocalMnist,
        models_dir: str | Path,
        *,
        seed: int = 0,
        tune: Callable[..., Any] = _default_tune,
    ) -> None:
        self.holder, self.store, self.mnist = holder, store, mnist
        self.models_dir = Path(models_dir)
        self.seed = seed
        self.tune = tune
        self.jobs: dict[str, Job] = {}
        self._running: Job | None = None
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise BadRequest(404, f"no fine-tune with id {job_id[:40]!r}")
        return job

    def start(self) -> Job:
        """Start a job on the current model and corrections; 409 if one runs, 422 with no corrections."""
        with self._lock:
            if self._running is not None:
                raise BadRequest(
                    409, f"a fine-tune is already running ({self._running.id}); wait for it to end"
                )
            if not sum(self.store.counts().values()):
                raise BadRequest(422, "there are no corrections yet: press an 'it was a ...' button first")
            self.mnist.dataset()  # a 404 now, rather than a failed job, when MNIST is not here
            base = self.holder.current
            job = Job(id=uuid.uuid4().hex[:12], base_model=base.path.name)
            self._running = job
            self.jobs[job.id] = job
            for old in list(self.jobs)[:-KEEP_JOBS]:
                del self.jobs[old]
        threading.Thread(target=self._run, args=(job, base), name=f"finetune-{job.id}", daemon=True).start()
        return job

    def _run(self, job: Job, base: LoadedModel) -> None:
        try:
            self._finetune(job, base)
        except NNScratchError as exc:
            job.status, job.error = "failed", " ".join(str(exc).split())
        except OSError as exc:
            job.status = "failed"
            job.error = f"cannot save the fine-tuned model in {self.models_dir}: {exc.strerror or exc}"
        except Exception as exc:  # noqa: BLE001 - the job reports it; the server keeps serving
            log.exception("fine-tune %s failed", job.id)
            job.status, job.error = "failed", f"the fine-tune failed unexpectedly ({type(exc).__name__})"
        finally:
            job.finished = time.time()
            with self._lock:
                self._running = None

    def _finetune(self, job: Job, base: LoadedModel) -> None:
        from nnscratch.images.folders import read_labelled_dir

        data = read_labelled_dir(self.store.root)
        job.skipped = [f"{path.name}: {reason}" for path, reason in data.skipped]
        ds = self.mnist.dataset()
        result = self.tune(
            base.net,
            data.images,
            data.labels,
            replay=(ds.x_train, ds.y_train),
            test=(ds.x_test, ds.y_test),
            seed=self.seed,
            progress=job.set_progress,
            source=base.path,
        )
        job.result = result.to_dict()
        if not result.accepted:
            job.status, job.error = "refused", result.reason
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = result.network.save(self.models_dir / f"finetuned-{stamp}-{job.id[:6]}.npz")
        self.holder.swap(load_model(path))
        job.saved = str(path)
        job.status = "done"
        job.progress = 1.0
