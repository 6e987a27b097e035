"""Tests of gantheory.sweep: results stream to disk, a re-run resumes, any executor works."""

import functools
import hashlib
import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gantheory.sweep import grid_settings, setting_key, sweep


def _study(x, y=1, *, log=None, fail_on=None):
    """A stand-in study: logs its call, fails on request, returns a dict of numbers."""
    if log is not None:
        with open(log, "a") as handle:
            handle.write(f"{x},{y}\n")
    if fail_on is not None and x == fail_on:
        raise ValueError(f"x = {x} fails")
    return {"product": x * y, "root": math.sqrt(x)}


def _interrupting_study(x, *, log, stop_at):
    if x == stop_at:
        raise KeyboardInterrupt
    return _study(x, log=log)


def _calls(log):
    return Path(log).read_text().splitlines() if Path(log).exists() else []


def test_grid_settings_expands_a_mapping_and_keeps_a_list():
    assert grid_settings({"a": [1, 2], "b": ["u", "v"]}) == [
        {"a": 1, "b": "u"}, {"a": 1, "b": "v"}, {"a": 2, "b": "u"}, {"a": 2, "b": "v"},
    ]
    assert grid_settings([{"a": 1}, {"a": 5, "b": 0}]) == [{"a": 1}, {"a": 5, "b": 0}]


def test_setting_key_is_stable_and_distinguishes_settings():
    assert setting_key({"a": 1, "b": 2}) == setting_key({"b": 2, "a": 1})
    assert setting_key({"a": 1}) != setting_key({"a": 2})
    # a pure function of the sorted JSON (not of Python's salted hash): files stay findable
    assert setting_key({"a": 1}) == hashlib.sha1(b'{"a": 1}').hexdigest()[:16]


def test_serial_sweep_writes_one_file_per_setting_in_grid_order(tmp_path):
    log = tmp_path / "calls.txt"
    results = sweep(
        functools.partial(_study, log=log), {"x": [4, 9], "y": [1, 2]}, tmp_path / "out",
        max_workers=1, progress=False,
    )
    assert [r["product"] for r in results] == [4, 8, 9, 18]
    assert [r["root"] for r in results] == [2.0, 2.0, 3.0, 3.0]
    files = sorted((tmp_path / "out").glob("*.json"))
    assert len(files) == 4
    saved = json.loads((tmp_path / "out" / f"{setting_key({'x': 9, 'y': 2})}.json").read_text())
    assert saved == {"setting": {"x": 9, "y": 2}, "result": {"product": 18, "root": 3.0}}
    assert len(_calls(log)) == 4


def test_a_failed_setting_leaves_the_others_saved_and_a_rerun_runs_only_it(tmp_path):
    log = tmp_path / "calls.txt"
    grid = {"x": [1, 2, 3, 4]}
    with pytest.raises(RuntimeError, match=r"1 of 4 settings failed \(\{'x': 3\}\)") as info:
        sweep(functools.partial(_study, log=log, fail_on=3), grid, tmp_path / "out",
              max_workers=1, progress=False)
    assert isinstance(info.value.__cause__, ValueError)
    assert len(list((tmp_path / "out").glob("*.json"))) == 3
    log.unlink()
    results = sweep(functools.partial(_study, log=log), grid, tmp_path / "out",
                    max_workers=1, progress=False)
    assert _calls(log) == ["3,1"]  # only the missing setting ran again
    assert [r["product"] for r in results] == [1, 2, 3, 4]


def test_an_interrupted_sweep_resumes_without_redoing_finished_work(tmp_path):
    """Ctrl-C during the third setting: the first two are on disk; the re-run does the rest."""
    log = tmp_path / "calls.txt"
    grid = {"x": [1, 2, 3, 4, 5]}
    with pytest.raises(KeyboardInterrupt):
        sweep(functools.partial(_interrupting_study, log=log, stop_at=3), grid, tmp_path / "out",
              max_workers=1, progress=False)
    assert _calls(log) == ["1,1", "2,1"]
    assert len(list((tmp_path / "out").glob("*.json"))) == 2
    assert not list((tmp_path / "out").glob(".*.tmp"))  # no half-written file
    log.unlink()
    results = sweep(functools.partial(_study, log=log), grid, tmp_path / "out",
                    max_workers=1, progress=False)
    assert _calls(log) == ["3,1", "4,1", "5,1"]
    assert [r["product"] for r in results] == [1, 2, 3, 4, 5]


def test_any_executor_gives_the_serial_results(tmp_path):
    grid = [{"x": x} for x in range(6)]
    serial = sweep(_study, grid, tmp_path / "serial", max_workers=1, progress=False)
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = sweep(_study, grid, tmp_path / "threads", executor=pool, progress=False)
    assert threaded == serial


def test_default_process_pool(tmp_path):
    results = sweep(_study, {"x": [1, 4, 16]}, tmp_path / "out", max_workers=2, progress=False)
    assert [r["root"] for r in results] == [1.0, 2.0, 4.0]


def test_dask_local_cluster_executor_and_resume(tmp_path):
    distributed = pytest.importorskip("distributed")
    log = tmp_path / "calls.txt"
    grid = {"x": [1, 2, 3, 4]}
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        executor = client.get_executor()
        with pytest.raises(RuntimeError, match="1 of 4 settings failed"):
            sweep(functools.partial(_study, log=log, fail_on=2), grid, tmp_path / "out",
                  executor=executor, progress=False)
        assert sorted(_calls(log)) == ["1,1", "2,1", "3,1", "4,1"]
        log.unlink()
        results = sweep(functools.partial(_study, log=log), grid, tmp_path / "out",
                        executor=executor, progress=False)
    assert _calls(log) == ["2,1"]
    assert [r["product"] for r in results] == [1, 2, 3, 4]


def test_bad_grids_are_rejected():
    with pytest.raises(ValueError, match="at least one value"):
        grid_settings({"x": []})
    with pytest.raises(TypeError, match=r"grid\['x'\] must be a list"):
        grid_settings({"x": "abc"})
    with pytest.raises(TypeError, match=r"grid\[1\]"):
        grid_settings([{"x": 1}, 2])
    with pytest.raises(TypeError, match="grid must be"):
        grid_settings(5)
    with pytest.raises(ValueError, match="at least one setting"):
        grid_settings([])
    with pytest.raises(ValueError, match="max_workers"):
        sweep(_study, {"x": [1]}, "/tmp/unused-sweep", max_workers=0)
