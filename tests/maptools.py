"""The live map's server for tests: started as `python -m lastmile.map.server` on a free port,
and asked over HTTP (with a partner's Basic credentials or none)."""
from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def map_server(env: dict):
    """The server with ``env`` (its LASTMILE_* settings), answering; yields its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "lastmile.map.server", "127.0.0.1", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else "the map server exited"
                assert time.monotonic() < deadline, "the map server did not answer in 30 s"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def get(url: str, user: str | None = None, password: str = "") -> tuple[int, dict]:
    """Status and JSON body of GET ``url``, as ``user`` (HTTP Basic) when given."""
    request = urllib.request.Request(url)
    if user is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
