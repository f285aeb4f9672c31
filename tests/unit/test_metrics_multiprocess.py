"""runplane.metrics without a server: multiprocess semantics, the serve-time directory, the JSON summary."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from runplane import gunicorn_conf, metrics

pytestmark = pytest.mark.unit


def _run_process(metrics_dir: Path, code: str) -> int:
    """Runs `code` in a fresh interpreter that writes its metrics to `metrics_dir`; returns its pid."""
    script = "import os\n" + textwrap.dedent(code) + "\nprint(os.getpid())\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return int(done.stdout.split()[-1])


def test_processes_add_up_and_a_dead_process_leaves_the_connection_gauge(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    first = _run_process(
        tmp_path,
        """
        from runplane import metrics
        metrics.connection_opened("websocket")
        metrics.connection_opened("websocket")
        metrics.connection_closed("websocket")
        metrics.connection_opened("sse")
        metrics.events_dropped("websocket", 3)
        metrics.record_request("get_liveness", "GET", 200, 0.002)
        """,
    )
    _run_process(
        tmp_path,
        """
        from runplane import metrics
        metrics.connection_opened("websocket")
        metrics.events_dropped("sse")
        metrics.record_request("get_liveness", "GET", 200, 0.004)
        metrics.record_request(None, "BREW", 404, 0.001)
        """,
    )
    # Both processes have exited but neither was marked dead yet: livesum still counts them.
    summary = metrics.snapshot(metrics.process_families())
    assert summary["connections"] == {"websocket": 2, "sse": 1}
    assert summary["events"]["dropped"] == 4
    assert summary["http"]["requests"] == [
        {"operation": "get_liveness", "status": 200, "count": 2},
        {"operation": "unrouted", "status": 404, "count": 1},
    ]
    assert summary["http"]["latency_seconds_sum"] == pytest.approx(0.007)

    gunicorn_conf.child_exit(None, SimpleNamespace(pid=first))
    summary = metrics.snapshot(metrics.process_families())
    assert summary["connections"] == {"websocket": 1, "sse": 0}  # the dead process's connections went
    assert summary["events"]["dropped"] == 4  # counters keep what dead processes counted
    assert sum(item["count"] for item in summary["http"]["requests"]) == 3


def test_unknown_methods_are_one_label():
    families = {family.name: family for family in metrics.process_families()}
    assert "runplane_http_requests" in families
    metrics.record_request(None, "BREW", 418, 0.0)
    labels = [
        sample.labels
        for family in metrics.process_families()
        for sample in family.samples
        if sample.name == "runplane_http_requests_total" and sample.labels["status"] == "418"
    ]
    assert labels == [{"operation": "unrouted", "method": "OTHER", "status": "418"}]


def test_the_serve_directory_is_emptied_of_metric_files_only(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "notes.txt").write_text("kept")
    assert metrics.prepare_multiprocess_dir(tmp_path) == {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    assert sorted(p.name for p in directory.iterdir()) == ["notes.txt"]

    chosen = tmp_path / "elsewhere"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(chosen))
    assert metrics.prepare_multiprocess_dir(tmp_path) == {"PROMETHEUS_MULTIPROC_DIR": str(chosen)}
    assert chosen.is_dir()


def test_connection_kinds_are_checked():
    with pytest.raises(ValueError, match="connection kind"):
        metrics.connection_opened("carrier-pigeon")  # type: ignore[arg-type]


def test_database_histograms_render_as_prometheus_histograms():
    figures = metrics.DatabaseFigures(
        tasks=dict.fromkeys(metrics.TASK_STATUSES, 0) | {"queued": 2},
        workers=dict.fromkeys(metrics.WORKER_STATES, 0),
        events_published=7,
        wait=metrics.Durations((1.0, 10.0), (1, 2), 3, 42.5),
        run=metrics.Durations((1.0, 10.0), (0, 0), 0, 0.0),
    )
    text = metrics.exposition(metrics.database_families(figures)).decode()
    assert 'runplane_task_wait_duration_seconds_bucket{le="1.0"} 1.0' in text
    assert 'runplane_task_wait_duration_seconds_bucket{le="+Inf"} 3.0' in text
    assert "runplane_task_wait_duration_seconds_sum 42.5" in text
    assert "runplane_events_published_total 7.0" in text
    assert "runplane_queue_depth 2.0" in text
    summary = metrics.snapshot(metrics.database_families(figures))
    assert summary["task_wait_seconds"] == {"count": 3, "sum": 42.5}
    assert summary["queue_depth"] == 2 and summary["events"]["published"] == 7
