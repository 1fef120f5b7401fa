"""``reviewnlp serve``: a real server process on loopback, and the command's checks."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from reviewnlp.errors import PolicyError
from reviewnlp.service import cli
from reviewnlp.service.config import ConfigError
from reviewnlp.store import open_store

from .service_helpers import CALM_CANDIDATES, ESCALATING_CANDIDATES

STARTUP_TIMEOUT = 90


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This environment without REVIEWNLP_* settings (they would override the defaults under test)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REVIEWNLP_") or k == "REVIEWNLP_MODEL"}


def request(url: str, body: dict | None = None, headers: dict | None = None, timeout: float = 10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read() or b"null")


def stop(process: subprocess.Popen) -> None:
    """Terminate the server (gunicorn stops its workers on SIGTERM); kill its process group if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_for_health(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if request(f"{base}/health", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server not healthy after {STARTUP_TIMEOUT} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
def test_real_server_classifies_and_stores_on_loopback(tmp_path, server):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "reviewnlp.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--server", server]
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, cwd=tmp_path, env=clean_env(), stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_for_health(base, process, log)
        reviews = [{"id": f"real-{i}", "text": text} for i, text in enumerate(ESCALATING_CANDIDATES + CALM_CANDIDATES)]
        status, headers, body = request(f"{base}/classify", {"reviews": reviews}, {"X-Request-ID": "real-req-1"})
        assert status == 200, body
        assert headers["X-Request-ID"] == "real-req-1"
        escalated = [r for r in body["results"] if r["routing"]["escalate"]]
        assert escalated, "none of the escalating reviews escalated"
        # the default store is reviewnlp-escalations.db in the working directory
        with open_store(tmp_path / "reviewnlp-escalations.db", create=False) as store:
            for result in escalated:
                assert result["escalation"]["stored"] is True
                assert store.get(result["escalation"]["id"]).review_id == result["id"]
        status, _, body = request(f"{base}/classify", {"text": ""})
        assert (status, body["error"]["code"], body["error"]["field"]) == (400, "empty_field", "text")
        assert request(f"{base}/ready")[0] == 200
    finally:
        stop(process)
    assert process.returncode is not None
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    requests = [r for r in records if r.get("event") == "request"]
    assert {(r["method"], r["path"], r["status"]) for r in requests} >= {("POST", "/classify", 200),
                                                                         ("POST", "/classify", 400)}
    assert any(r["request_id"] == "real-req-1" for r in requests)
    everything = "\n".join(lines)
    for text in ESCALATING_CANDIDATES + CALM_CANDIDATES:
        assert text not in everything
    if server == "gunicorn":
        assert all(line.startswith("{") for line in lines), "gunicorn's own lines should be JSON too"


def test_serve_reports_bad_settings_in_one_line_with_exit_code_2(tmp_path):
    command = [sys.executable, "-m", "reviewnlp.cli", "serve", "--port", str(free_port()),
               "--policy", str(tmp_path / "missing.toml")]
    done = subprocess.run(command, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "missing.toml" in done.stderr and "Traceback" not in done.stderr


def test_preflight_checks_settings_policy_store_and_model(tmp_path):
    good = {"STORE": str(tmp_path / "ok.db"), "MODEL": None, "POLICY": None}
    assert cli._preflight(None, good)["STORE"] == str(tmp_path / "ok.db")
    with pytest.raises(PolicyError):
        cli._preflight(None, dict(good, POLICY=str(tmp_path / "nope.toml")))
    from reviewnlp.errors import StoreError

    with pytest.raises(StoreError):
        cli._preflight(None, dict(good, STORE=str(tmp_path / "no-dir" / "x.db")))
    with pytest.raises(ConfigError, match="MODEL"):
        cli._preflight(None, dict(good, MODEL=str(tmp_path)))


def test_gunicorn_options_load_the_app_once_per_worker():
    import argparse

    parser = argparse.ArgumentParser(prog="reviewnlp")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--workers", "3", "--threads", "4", "--host", "::1", "--port", "8080"])
    options = cli.gunicorn_options(args)
    assert options["preload_app"] is False
    assert (options["workers"], options["threads"], options["worker_class"]) == (3, 4, "gthread")
    assert options["bind"] == ["[::1]:8080"]
    loaded = []
    application = cli.gunicorn_application(lambda: loaded.append(1) or "wsgi-app", options)
    assert application.cfg.preload_app is False and application.cfg.workers == 3
    assert application.cfg.logger_class.access(None, None, None, None, None) is None  # the app logs requests
    assert loaded == []  # nothing is loaded in the master
    assert application.load() == "wsgi-app" and loaded == [1]
