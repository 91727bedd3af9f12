"""The local executor with real worker processes: crashes, timeouts, prefetch, the store."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"
if str(PLUGINS_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGINS_DIR))  # spawned workers inherit sys.path

import wbtest_plugins  # noqa: E402

from workbench.runs import Job, RunStore, run_batch  # noqa: E402
from workbench.runs.local import LocalExecutor  # noqa: E402


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test plug-ins for the worker processes (they read the environment)."""
    monkeypatch.setenv("WORKBENCH_PLUGINS", wbtest_plugins.PLUGINS)
    monkeypatch.delenv("WBTEST_SLEEP", raising=False)


def _jobs(ids: list[str], *, timeout: float = 30.0, dataset: str = "tiny_traps") -> list[Job]:
    return [
        Job(key=f"{i}|trap|", item_id=i, dataset=dataset, dataset_args={"n": 6}, backend="trap",
            timeout=timeout)
        for i in ids
    ]  # fmt: skip


def test_segfault_and_hang_are_recorded_and_the_batch_finishes(
    plugins: None, tmp_path: Path
) -> None:
    ids = [p.id for p in wbtest_plugins.load_traps(6)]  # 6 tiny LPs + trap_segv + trap_hang
    jobs = _jobs(ids, timeout=3.0)
    started: list[str] = []
    with RunStore(tmp_path / "runs.db") as store:
        rid = run_batch(store, jobs, executor=LocalExecutor(2), name="traps",
                        on_start=lambda j: started.append(j.key))  # fmt: skip
        items = {it["item_id"]: it for it in store.items(rid)}
        assert store.run(rid)["status"] == "done"
    assert Counter(started) == Counter(j.key for j in jobs)  # each started exactly once
    segv, hang = items.pop("trap_segv"), items.pop("trap_hang")
    assert segv["status"] == "crashed"
    assert "signal 11" in segv["error"] and "trap_segv" in segv["error"]
    assert hang["status"] == "timeout"
    assert "3 s wall-clock limit" in hang["error"]
    assert len(items) == 6
    for it in items.values():
        assert it["status"] == "done", it
        assert it["termination"] == "optimal"
        assert it["correct"] == 1
        assert it["tries"] == 1


def test_outcomes_once_per_job_in_order_of_callbacks(plugins: None) -> None:
    jobs = _jobs([p.id for p in wbtest_plugins.load_tiny(6)] * 1)
    jobs += [Job(key=f"{j.item_id}|again", item_id=j.item_id, dataset="tiny", backend="highs",
                 dataset_args={"n": 6}) for j in jobs]  # fmt: skip
    events: list[tuple[str, str]] = []
    outs = LocalExecutor(2).run(
        jobs,
        on_start=lambda j: events.append(("start", j.key)),
        on_done=lambda o: events.append(("done", o.key)),
    )
    assert sorted(o.key for o in outs) == sorted(j.key for j in jobs)
    assert all(o.status == "done" and o.score["correct"] for o in outs)
    for job in jobs:  # started once, before it finished
        assert events.count(("start", job.key)) == 1
        assert events.index(("start", job.key)) < events.index(("done", job.key))


def test_first_job_clock_excludes_worker_startup(plugins: None) -> None:
    # A worker needs ~1 s to import; a 1.5 s limit must still let a quick first job finish.
    outs = LocalExecutor(1).run(_jobs(["tiny_00"], timeout=1.5))
    assert [o.status for o in outs] == ["done"]


def test_no_jobs_and_bad_arguments() -> None:
    assert LocalExecutor(1).run([]) == []
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        LocalExecutor(0)
    with pytest.raises(ValueError, match="prefetch must be >= 0"):
        LocalExecutor(1, prefetch=-1)


def test_tune_pipeline_dispatches_to_a_registered_tuner():
    """A tuner from the registry runs as a job; its result is scored like any other."""
    import workbench
    from workbench.datasets import get_dataset
    from workbench.runs.jobs import TUNERS, Job, run_job

    def tuner(problem, job):
        r = workbench.solve(problem.model, time_limit=job.time_limit)
        return {
            "result": r.to_dict(),
            "attempts": [{"index": 0, "status": "ok", "feedback": "tuned"}],
        }

    TUNERS.register("test_tuner", tuner)
    try:
        job = Job(
            key="diet|auto|test_tuner",
            item_id="diet",
            dataset="catalog",
            pipeline="tune",
            agent="test_tuner",
            time_limit=10,
        )
        out = run_job(job)
        assert out.status == "done" and out.score["correct"] is True
        assert out.attempts[0]["feedback"] == "tuned"
        missing = run_job(
            Job(key="k", item_id="diet", dataset="catalog", pipeline="tune", agent="nope")
        )
        assert missing.status == "error" and "no tuner 'nope' is registered" in missing.error
    finally:
        TUNERS._targets.pop("test_tuner", None)
        TUNERS._loaded.pop("test_tuner", None)
    assert get_dataset("catalog", ids=["diet"])[0].optimum is not None
