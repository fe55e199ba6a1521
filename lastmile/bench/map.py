"""`lastmile bench --map`: how fast the live map's API answers (lastmile/map/server.py) on what
the local stack holds (after `make demo`: the simulated city's day). A server of its own on a
free port; each endpoint asked ``repeat`` times after one warm-up; times measured by the client,
over HTTP, in ms."""
from __future__ import annotations

import socket
import statistics
import time
import urllib.request

from lastmile.config import Config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(config: Config, repeat: int = 20, say=lambda _m: None) -> dict:
    import base64
    import json
    import os

    from lastmile.map import queries, server

    port = _free_port()
    token = base64.b64encode(os.urandom(12)).decode()
    from lastmile.clickhouse import http_client

    partners = [p for (p,) in http_client(config).query(
        "SELECT DISTINCT partner_id FROM delivery_tasks ORDER BY partner_id LIMIT 1").result_rows]
    env = {**os.environ, "LASTMILE_MAP_PARTNER_TOKENS": ",".join(f"{p}:{token}" for p in partners)}
    bench = config.with_overrides(home=config.home / "bench")
    server.start_background(bench, "127.0.0.1", port, env=env)
    url = f"http://127.0.0.1:{port}"
    paths = {f"hexes {layer} res {res}": f"/api/hexes?layer={layer}&res={res}"
             for layer in queries.LAYERS for res in (8, 9)}
    paths["summary"] = "/api/summary"
    if partners:
        paths[f"shipments of {partners[0]}"] = f"/api/shipments?partner={partners[0]}"
    auth = {"Authorization": "Basic " + base64.b64encode(f"{partners[0]}:{token}".encode()).decode()} if partners else {}
    out = {}
    try:
        for name, path in paths.items():
            times, size = [], 0
            for i in range(repeat + 1):
                started = time.perf_counter()
                with urllib.request.urlopen(urllib.request.Request(url + path, headers=auth), timeout=30) as resp:
                    body = json.loads(resp.read())
                if i:  # the first is a warm-up
                    times.append((time.perf_counter() - started) * 1000)
                size = len(body.get("hexes", body.get("shipments", [])) or [])
            times.sort()
            out[name] = {"median_ms": round(statistics.median(times), 1),
                         "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1), "items": size}
            say(f"  {name}: {out[name]['median_ms']} ms")
    finally:
        server.process(bench).stop()
    return out


def print_report(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="live map API (median and p95 of the requests, ms, over HTTP)")
    for column in ("request", "items", "median ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "request" else "right")
    for name, r in result.items():
        table.add_row(name, f"{r['items']:,}", f"{r['median_ms']:.1f}", f"{r['p95_ms']:.1f}")
    Console().print(table)
