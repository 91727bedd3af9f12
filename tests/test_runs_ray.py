"""The ``ray`` executor: per-job task options (fast) and a real local Ray cluster (slow)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"
if str(PLUGINS_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGINS_DIR))

import wbtest_plugins  # noqa: E402

from workbench.runs import Job, RunStore, plan_jobs, run_batch  # noqa: E402
from workbench.runs.local import LocalExecutor  # noqa: E402
from workbench.runs.ray_executor import RayExecutor, job_kind, task_options  # noqa: E402

CATALOG_IDS = ["diet", "knapsack_01", "bakery_infeasible", "trading_unbounded", "tsp_mtz",
               "portfolio_markowitz", "set_cover", "nlp_rosenbrock_disk"]  # fmt: skip


# ------------------------------------------------------------ task options
@pytest.mark.parametrize("backend", ["neur2ro", "bilevel_penalty", "bcd", "alsketch"])
def test_torch_backends_ask_for_a_gpu_only_when_there_is_one(backend: str) -> None:
    job = Job(key="k", item_id="i", dataset="d", backend=backend)
    assert job_kind(job) == "torch"
    on_gpu = task_options(job, cluster_gpus=2, num_gpus_per_torch_job=0.5, llm_resource=True)
    assert on_gpu["num_gpus"] == 0.5 and "resources" not in on_gpu
    no_gpu = task_options(job, cluster_gpus=0, num_gpus_per_torch_job=0.5, llm_resource=True)
    assert "num_gpus" not in no_gpu
    assert no_gpu["max_retries"] == 0  # a crash is recorded, never silently retried


def test_formulate_jobs_take_an_llm_slot_and_cpu_jobs_nothing_extra() -> None:
    llm_job = Job(key="k", item_id="i", dataset="d", pipeline="formulate", agent="a")
    assert task_options(llm_job, cluster_gpus=1, num_gpus_per_torch_job=1, llm_resource=True)[
        "resources"
    ] == {"llm": 1}
    assert "resources" not in task_options(
        llm_job, cluster_gpus=1, num_gpus_per_torch_job=1, llm_resource=False
    )
    cpu = task_options(Job(key="k", item_id="i", dataset="d", backend="highs"), cluster_gpus=4,
                       num_gpus_per_torch_job=1, llm_resource=True)  # fmt: skip
    assert cpu == {"num_cpus": 1, "max_retries": 0, "name": "workbench:k"}


def test_capacity_caps_llm_and_gpu_jobs() -> None:
    ex = RayExecutor(8, llm_concurrency=3, num_gpus_per_torch_job=0.5)
    assert ex._capacity({"CPU": 8, "GPU": 1, "llm": 2}) == {"cpu": 8, "torch": 2, "llm": 2}
    assert ex._capacity({"CPU": 8}) == {"cpu": 8, "torch": 8, "llm": 3}
    with pytest.raises(ValueError, match="llm_concurrency must be >= 1"):
        RayExecutor(2, llm_concurrency=0)


def test_llm_jobs_run_besides_the_solve_jobs_up_to_llm_concurrency() -> None:
    from collections import deque

    class Task:  # records what would be submitted (no cluster needed)
        def options(self, **opts: Any) -> Task:
            self.opts = opts
            return self

        def remote(self, job: Job, cpus: int) -> object:
            assert cpus == max(1, self.opts["num_cpus"])  # an LLM job's solves: 1 CPU
            return object()

    ex = RayExecutor(1, llm_concurrency=3)
    cpu = [Job(key=f"c{k}", item_id="i", dataset="d", backend="highs") for k in range(2)]
    llm = [Job(key=f"l{k}", item_id="i", dataset="d", pipeline="formulate", agent="a")
           for k in range(5)]  # fmt: skip
    queues = {"cpu": deque(enumerate(cpu)), "torch": deque(),
              "llm": deque((k + 2, j) for k, j in enumerate(llm))}  # fmt: skip
    inflight: dict[Any, tuple[Job, float]] = {}
    sent = ex._submit(queues, inflight, {"cpu": 1, "torch": 1, "llm": 3}, Task(), 0.0, True)
    assert [j.key for j in sent] == ["c0", "l0", "l1", "l2"]  # 1 solve job + 3 conversations
    llm_opts = task_options(llm[0], cluster_gpus=0, num_gpus_per_torch_job=1, llm_resource=True)
    assert llm_opts["num_cpus"] == 0 and llm_opts["resources"] == {"llm": 1}


def test_a_ray_task_tells_its_solves_how_many_cpus_it_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from workbench import racing
    from workbench.runs import ray_executor

    seen: list[str | None] = []
    monkeypatch.setattr(ray_executor, "run_job", lambda job: seen.append(os.environ.get(
        racing.CPU_SHARE_ENV)) or "outcome")  # fmt: skip
    monkeypatch.setenv(racing.CPU_SHARE_ENV, "64")  # restored afterwards
    job = Job(key="k", item_id="i", dataset="d", backend="highs")
    assert ray_executor.ray_job(job, 1) == "outcome"
    assert ray_executor.ray_job(job, 4) == "outcome"
    assert seen == ["1", "4"]  # a 1-CPU task never races two solvers
    assert racing.cpu_count() == min(4, len(os.sched_getaffinity(0)))


# ------------------------------------------------------------ a real cluster


def _catalog_jobs() -> list[Job]:
    from workbench.datasets import get_dataset

    problems = [p for p in get_dataset("catalog") if p.id in CATALOG_IDS]
    return plan_jobs(problems, dataset="catalog", backends=["auto"], time_limit=30)


def _by_key(outs: list) -> dict[str, tuple]:  # type: ignore[type-arg]
    return {
        o.key: (o.status, (o.result or {}).get("termination"),
                None if not o.result or o.result.get("objective") is None
                else round(o.result["objective"], 6), o.score.get("correct"))
        for o in outs
    }  # fmt: skip


@pytest.mark.slow
def test_ray_starts_and_stops_its_own_cluster_and_matches_local(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("WORKBENCH_PLUGINS", wbtest_plugins.PLUGINS)
    assert not ray.is_initialized()
    jobs = _catalog_jobs()
    got = RayExecutor(2).run(jobs)
    assert not ray.is_initialized()  # it shut down the cluster it started
    want = LocalExecutor(2).run(jobs)
    assert _by_key(got) == _by_key(want)
    assert all(v[0] == "done" for v in _by_key(got).values())


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A local 2-CPU cluster whose workers see the test plug-ins."""
    ray = pytest.importorskip("ray")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_PLUGINS", wbtest_plugins.PLUGINS)
    mp.setenv("PYTHONPATH", wbtest_plugins.plugin_env()["PYTHONPATH"])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, resources={"llm": 1})
    yield ray
    ray.shutdown()
    mp.undo()


@pytest.mark.slow
def test_ray_records_crash_and_timeout_and_finishes_the_rest(cluster: Any, tmp_path: Path) -> None:
    # 8 s: the clock includes starting a Ray worker (after the segfault), and the formulate
    # job (no CPU slot) starts its own worker at the same time
    ids = [p.id for p in wbtest_plugins.load_traps(4)]
    jobs = [Job(key=f"{i}|trap|", item_id=i, dataset="tiny_traps", dataset_args={"n": 4},
                backend="trap", timeout=8.0) for i in ids]  # fmt: skip
    jobs.append(Job(key="tiny_00|echo", item_id="tiny_00", dataset="tiny", pipeline="formulate",
                    agent="echo", dataset_args={"n": 4}))  # fmt: skip
    with RunStore(tmp_path / "runs.db") as store:
        rid = run_batch(store, jobs, executor=RayExecutor(2))
        items = {it["key"]: it for it in store.items(rid)}
        assert len(store.attempts(rid, "tiny_00|echo")) == 2
        assert len(store.llm_calls(rid, "tiny_00|echo")) == 2
    assert cluster.is_initialized()  # not ours to stop
    segv, hang = items.pop("trap_segv|trap|"), items.pop("trap_hang|trap|")
    assert segv["status"] == "crashed" and "worker died" in segv["error"]
    assert hang["status"] == "timeout" and "8 s wall-clock limit" in hang["error"]
    assert len(items) == 5
    for it in items.values():
        assert it["status"] == "done" and it["correct"] == 1, it
