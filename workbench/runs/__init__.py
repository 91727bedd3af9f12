"""Runs at scale: the SQLite run store, jobs, executors and batches."""

from workbench.runs.batch import make_executor, plan_jobs, run_batch
from workbench.runs.jobs import Job, job_key, run_job
from workbench.runs.store import ItemSpec, Outcome, RunStore, default_store_path

__all__ = [
    "ItemSpec",
    "Job",
    "Outcome",
    "RunStore",
    "default_store_path",
    "job_key",
    "make_executor",
    "plan_jobs",
    "run_batch",
    "run_job",
]
