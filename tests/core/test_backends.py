"""Evaluation back ends: the address, chunking, identity with a Dask cluster, a lost worker,
a lost cluster. The cluster tests start a LocalCluster of 2 worker processes (CPU)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from core import backends
from core.backends import LocalBackend, concat_evaluations, parse_backend, split_chunks
from core.config import PromptPair, RunConfig, validate_config
from core.errors import ClusterError, InputError
from core.measures import Evaluator, EvaluatorSettings
from core.run import prepare, resume
from core.search import SearchSettings
from tests.core.conftest import small_config

REPO = Path(__file__).resolve().parents[2]
CHUNKED = SearchSettings(evaluator=EvaluatorSettings(chunk_size=36))  # 4 chunks a step: both workers busy


def shapes_config(**overrides) -> RunConfig:
    """The shapes world (weights in assets/), its default algorithm (jump), no judge (not compared)."""
    base = dict(
        measures=(PromptPair("a red shape", "a blue shape"), PromptPair("a triangle", "a square")),
        evaluations=1000, judge="none", seed=5,
    )
    return RunConfig(**(base | overrides))


def assert_same_run(a, b) -> None:
    """Archive, pool and random samples bit-identical."""
    assert a.archive.equals(b.archive)
    for name in ("z", "measures", "objective", "similarities"):
        np.testing.assert_array_equal(getattr(a.pool, name), getattr(b.pool, name))
        np.testing.assert_array_equal(getattr(a.random_pool, name), getattr(b.random_pool, name))


# ---- the address, without a cluster -----------------------------------------------------------


@pytest.mark.parametrize(
    "value, parsed",
    [
        ("local", ("local", None)),
        ("local-cluster:1", ("local-cluster", 1)),
        ("local-cluster:64", ("local-cluster", 64)),
        ("tcp://10.0.0.5:8786", ("address", "tcp://10.0.0.5:8786")),
        ("tcp://gpu-box.lan:8786", ("address", "tcp://gpu-box.lan:8786")),
        ("tls://[::1]:8786", ("address", "tls://[::1]:8786")),
    ],
)
def test_backends_accepted(value, parsed):
    assert parse_backend(value) == parsed
    validate_config(small_config(backend=value))


@pytest.mark.parametrize(
    "value",
    ["", "dask", "Local", "local-cluster:0", "local-cluster:65", "local-cluster:two", "local-cluster:",
     "tcp://host", "tcp://host:0", "tcp://host:99999", "http://host:8786", "tcp://ho st:8786",
     "tcp://host:8786; rm -rf /", 8786, None, ["local"]],
)
def test_bad_backend_is_refused_by_name(value):
    with pytest.raises(InputError, match=r"^backend: got .*expected local, local-cluster:N"):
        validate_config(small_config(backend=value))


def test_chunks_cover_the_batch_in_order():
    assert split_chunks(0, 4) == []
    assert split_chunks(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert split_chunks(3, 512) == [slice(0, 3)]


@pytest.mark.parametrize("gradients", [False, True])
def test_local_backend_is_bit_identical_to_the_evaluator(generator, scorer, config, gradients):
    settings = EvaluatorSettings(chunk_size=7)
    evaluator = Evaluator.from_config(config, generator=generator, scorer=scorer, settings=settings).with_floor(-9.0)
    z = generator.sample_prior(30, seed=4).double().numpy()
    whole = evaluator.evaluate(z, gradients=gradients)
    chunked = LocalBackend(evaluator).evaluate(z, gradients=gradients)
    for name in ("objective", "measures", "quality", "jacobian", "similarities"):
        a, b = getattr(whole, name), getattr(chunked, name)
        assert (a is None) == (b is None) == (name == "jacobian" and not gradients)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    empty = concat_evaluations([], num_measures=2)
    assert empty.measures.shape == (0, 2) and empty.similarities.shape == (0, 2, 2)


def test_core_runs_without_dask_installed(tmp_path):
    """core (and a local run) never imports dask; a cluster back end then says what to install."""
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('dask', 'distributed'): raise ImportError(name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from tests.core import stand_ins; stand_ins.register()\n"
        "from tests.core.conftest import small_config\n"
        "from core.run import prepare\n"
        "from core.errors import ClusterError\n"
        "h = prepare(small_config(evaluations=100, judge='none'))\n"
        f"list(h.run({str(tmp_path / 'run')!r}))\n"
        "assert not any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules)\n"
        "h = prepare(small_config(evaluations=100, judge='none', backend='local-cluster:2'))\n"
        "try:\n"
        f"    list(h.run({str(tmp_path / 'other')!r}))\n"
        "except ClusterError as exc:\n"
        "    print(exc)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "needs Dask: pip install dask distributed" in res.stdout
    assert not (tmp_path / "other").exists()  # nothing written before the cluster answers


def test_unreachable_scheduler_is_one_clear_error_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "CONNECT_SECONDS", 1.0)
    handle = prepare(small_config(backend="tcp://127.0.0.1:9", judge="none"))
    with pytest.raises(ClusterError, match=r"backend 'tcp://127.0.0.1:9': no scheduler with a worker answered within 1 s"):
        list(handle.run(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


# ---- on a LocalCluster of 2 worker processes ---------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes, 1 thread each (dask starts them with 1 torch thread)."""
    distributed = pytest.importorskip("distributed")
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    yield local
    local.close()


@pytest.mark.slow
def test_local_cluster_gives_the_same_archive_as_local(tmp_path):
    """local-cluster:2 against this process, the shapes world's default algorithm, one seed."""
    config = shapes_config()
    runs = {}
    for backend in ("local", "local-cluster:2"):
        handle = prepare(dataclasses.replace(config, backend=backend), settings=CHUNKED)
        events = list(handle.run(tmp_path / backend.replace(":", "-")))
        assert events[-1].done and not events[-1].stopped
        runs[backend] = handle.result
    assert_same_run(runs["local"], runs["local-cluster:2"])
    assert len(runs["local"].pool) == runs["local"].summary["evaluations"] > 900


@pytest.mark.slow
def test_gradients_on_a_cluster_match_local(tmp_path, cluster):
    """CMA-MAEGA (Jacobians from backward passes) on the stand-ins, whose registration the workers
    take from the run's spec. Backward passes on CPU reduce per thread, so both sides use one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = small_config(algorithm="cma-maega", evaluations=400, judge="none")
        settings = dataclasses.replace(CHUNKED, evaluator=EvaluatorSettings(chunk_size=8))
        local = prepare(config, settings=settings)
        list(local.run(tmp_path / "local"))
        remote = prepare(dataclasses.replace(config, backend=cluster.scheduler_address), settings=settings)
        list(remote.run(tmp_path / "dask"))
    finally:
        torch.set_num_threads(threads)
    assert_same_run(local.result, remote.result)


@pytest.mark.slow
def test_a_worker_killed_mid_run_changes_nothing(tmp_path, cluster):
    """A worker process killed while chunks run: Dask runs its chunk again on the other one (the
    nanny restarts the killed one, whose plugin loads the models again); the run completes and
    is the same as in this process."""
    from distributed import Client

    config = shapes_config(backend=cluster.scheduler_address)
    with Client(cluster.scheduler_address) as spy:
        before = spy.run(os.getpid)
        victim = sorted(before.values())[0]
        handle = prepare(config, settings=CHUNKED)
        events = []
        for event in handle.run(tmp_path / "dask"):
            events.append(event)
            if len(events) == 2:  # kill it just after the next step has sent out its chunks
                threading.Timer(0.05, os.kill, (victim, signal.SIGKILL)).start()
        spy.wait_for_workers(2, timeout=60)
        after = spy.run(os.getpid)
    assert victim not in after.values()  # it was killed (and replaced)
    assert events[-1].done and not events[-1].stopped
    local = prepare(dataclasses.replace(config, backend="local"), settings=CHUNKED)
    list(local.run(tmp_path / "local"))
    assert_same_run(handle.result, local.result)


@pytest.mark.slow
def test_a_lost_cluster_stops_the_run_keeps_it_and_resume_finishes_it(tmp_path, monkeypatch):
    """The scheduler goes away mid-run: the run stops (stopped=True) with its files, the error says
    where it is kept, and resuming it here gives the same result as one uninterrupted run."""
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(backends, "CONNECT_SECONDS", 3.0)  # how long the client tries to reconnect
    local_cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    config = shapes_config(backend=local_cluster.scheduler_address)
    handle = prepare(config, settings=CHUNKED)
    run_dir = tmp_path / "run"
    events = []
    with pytest.raises(ClusterError, match=r"is gone: .* the run stopped after [\d,]+ evaluations and what it found is kept in "
                       r".*--resume") as info:
        for event in handle.run(run_dir, checkpoint_seconds=0):
            events.append(event)
            if len(events) == 2:
                local_cluster.close()
    assert "\n" not in str(info.value)
    assert events[-1].done and events[-1].stopped
    kept = handle.result
    assert kept.summary["status"] == "stopped" and len(kept.pool) == kept.summary["evaluations"] == events[1].evaluations
    assert len(kept.random_pool) == len(kept.pool)
    for name in ("archive.parquet", "pool.npz", "random_pool.npz", "summary.json", "search_state.safetensors"):
        assert (run_dir / name).is_file()
    resumed = resume(run_dir, backend="local")
    list(resumed.run())
    whole = prepare(dataclasses.replace(config, backend="local"), settings=CHUNKED)
    list(whole.run(tmp_path / "whole"))
    assert_same_run(resumed.result, whole.result)


@pytest.mark.slow
def test_a_worker_without_the_models_fails_the_run_before_its_first_step(tmp_path, cluster):
    from core.registry import GeneratorDefaults, register_generator
    from tests.core import stand_ins

    register_generator(
        "client-only", "tests.core.stand_ins:load_client_only_generator", "stand-in absent on workers",
        defaults=GeneratorDefaults(objective=PromptPair("a clean shape", "a smudge"), algorithm="jump", judge="none"),
    )
    config = small_config(generator="client-only", backend=cluster.scheduler_address)
    handle = prepare(config)
    assert handle.generator.name == stand_ins.NAME  # it loads here
    with pytest.raises(ClusterError, match=r"a worker of tcp://.* cannot evaluate this run: WeightsNotFoundError: "
                       r"stand-in weights are not on this worker"):
        list(handle.run(tmp_path / "run"))
    assert not (tmp_path / "run" / "history.csv").exists()
