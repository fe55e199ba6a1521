"""`lastmile map`: the live map's web server (Starlette on uvicorn).

* ``/`` the page (lastmile/map/web/static: deck.gl's H3HexagonLayer, polling the API every
  0.7 s); ``/vendor/`` deck.gl's standalone bundle and h3-js, installed from the npm
  registry by ``make install`` (lastmile/map/web/package-lock.json) and served from here: the
  page loads nothing from elsewhere, and draws a base map only when ``LASTMILE_MAP_TILES``
  names a tile URL.
* ``/api/hexes?layer=deliveries|colocations|proposals|vans&res=7|8|9``, ``/api/summary``: the
  operator's view, aggregates per hex and per partner (lastmile/map/queries.py).
* ``?partner=P`` on any of them, and ``/api/shipments?partner=P``: that partner's view, which
  adds its own shipments. It needs the partner's credentials (HTTP Basic, user ``P``): on a
  stack with partner accounts (``lastmile up --secure``, ``lastmile partners add``) its
  ClickHouse password, checked by ClickHouse itself, and its own data is then queried with
  its own account (the row filters apply); elsewhere a token from
  ``LASTMILE_MAP_PARTNER_TOKENS`` (``p1:token1,p2:token2``). Without either, partner views
  are refused.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import pathlib
import threading
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from lastmile import credentials
from lastmile.config import Config
from lastmile.map import queries

WEB = pathlib.Path(__file__).resolve().parent / "web"
# the browser bundles the page loads, from lastmile/map/web/node_modules (package-lock.json):
# deck.gl's standalone bundle expects h3-js as the global ``h3``
VENDOR = {"h3-js.umd.js": WEB / "node_modules" / "h3-js" / "dist" / "h3-js.umd.js",
          "deck.gl.min.js": WEB / "node_modules" / "deck.gl" / "dist.min.js"}
DEFAULT_PORT = 8088
_ACCOUNT_CHECK_S = 60.0  # a partner's password, once ClickHouse took it, is asked again after this


class Refused(Exception):
    def __init__(self, status: int, message: str, challenge: str | None = None):
        super().__init__(message)
        self.status, self.challenge = status, challenge


class Viewers:
    """Who may see which partner view, and the ClickHouse client each view queries with."""

    def __init__(self, config: Config):
        self.config = config
        self.tokens = dict(entry.strip().split(":", 1) for entry in config.map_partner_tokens.split(",")
                           if ":" in entry)
        self._local = threading.local()
        self._accounts: dict[tuple[str, str], float] = {}  # (partner, sha256 of password) -> checked at

    def operator(self):
        """The server's own client (one per thread: a client runs one query at a time)."""
        client = getattr(self._local, "client", None)
        if client is None:
            from lastmile.clickhouse import http_client

            client = self._local.client = http_client(self.config)
        return client

    def partner(self, request: Request, partner: str):
        """The client to query ``partner``'s own data with, once its credentials are right."""
        from udfs.contracts.topics import check_partner_id

        try:
            check_partner_id(partner)
        except ValueError as exc:
            raise Refused(400, str(exc)) from None
        user, password = _basic(request)
        challenge = f'Basic realm="lastmile partner {partner}"'
        if user is None:
            raise Refused(401, f"the view of partner {partner} needs its credentials", challenge)
        if user != partner:
            raise Refused(403, f"{user} may not see the view of partner {partner}")
        if self._has_accounts():
            return self._account(partner, password, challenge)
        expected = self.tokens.get(partner)
        if expected is None:
            raise Refused(403, "partner views need partner accounts (lastmile up --secure, lastmile partners add) "
                               "or a token in LASTMILE_MAP_PARTNER_TOKENS")
        if not hmac.compare_digest(password.encode(), expected.encode()):
            raise Refused(401, f"wrong token for partner {partner}", challenge)
        return self.operator()

    def _has_accounts(self) -> bool:
        return bool(credentials.stack(self.config.home))

    def _account(self, partner: str, password: str, challenge: str):
        from lastmile.clickhouse import http_client

        key = (partner, hashlib.sha256(password.encode()).hexdigest())
        clients = getattr(self._local, "partners", None)
        if clients is None:
            clients = self._local.partners = {}
        if key in clients and time.monotonic() - self._accounts.get(key, 0.0) < _ACCOUNT_CHECK_S:
            return clients[key]
        from clickhouse_connect.driver.exceptions import DatabaseError

        try:
            client = http_client(self.config.with_overrides(clickhouse_user=partner, clickhouse_password=password))
            client.query("SELECT 1")
        except DatabaseError:
            raise Refused(401, f"ClickHouse refused the credentials of partner {partner}", challenge) from None
        clients[key] = client
        self._accounts[key] = time.monotonic()
        return client


def _basic(request: Request) -> tuple[str | None, str]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None, ""
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    return user, password


def _int(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    try:
        return default if text is None else int(text)
    except ValueError:
        raise Refused(400, f"{name} must be a whole number, got {text!r}") from None


def create_app(config: Config) -> Starlette:
    viewers = Viewers(config)

    def answer(handler):
        def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                body = handler(request)
            except Refused as refused:
                headers = {"WWW-Authenticate": refused.challenge} if refused.challenge else None
                return JSONResponse({"error": str(refused)}, status_code=refused.status, headers=headers)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(body, headers={"Server-Timing": f"db;dur={(time.perf_counter() - started) * 1000:.1f}",
                                               "Cache-Control": "no-store"})
        return endpoint

    def hexes(request: Request) -> dict:
        partner = request.query_params.get("partner")
        client = viewers.partner(request, partner) if partner else viewers.operator()
        layer = request.query_params.get("layer", "deliveries")
        res = _int(request, "res", 8)
        now = queries.clock(viewers.operator())
        found = [] if now is None else queries.hexes(client, layer, res, now, partner)
        return {"layer": layer, "res": res, "partner": partner, "now": now.isoformat() if now else None,
                "hexes": found}

    def summary(request: Request) -> dict:
        partner = request.query_params.get("partner")
        if partner:
            viewers.partner(request, partner)
        operator = viewers.operator()
        found = queries.summary(operator, queries.clock(operator), dt.datetime.now(dt.UTC))
        if partner:  # another partner's feed and refused records are not this partner's business
            found["feeds"] = {p: v for p, v in found["feeds"].items() if p == partner}
            found["dead_letters_last_hour"] = None
        return found

    def shipments(request: Request) -> dict:
        partner = request.query_params.get("partner")
        if not partner:
            raise Refused(400, "shipments are a partner's view: ?partner=P")
        client = viewers.partner(request, partner)
        now = queries.clock(viewers.operator())
        return {"partner": partner, "shipments": [] if now is None else queries.partner_shipments(client, partner, now)}

    def page(request: Request) -> Response:
        partner = request.query_params.get("partner")
        if partner:  # ask for the partner's credentials with the page: its API calls then carry them
            try:
                viewers.partner(request, partner)
            except Refused as refused:
                headers = {"WWW-Authenticate": refused.challenge} if refused.challenge else None
                return Response(str(refused), status_code=refused.status, headers=headers, media_type="text/plain")
        html = (WEB / "static" / "index.html").read_text()
        settings = {"tiles": config.map_tiles or None}
        return HTMLResponse(html.replace("/*SETTINGS*/{}", json.dumps(settings)),
                            headers={"Cache-Control": "no-store"})

    def vendor(request: Request) -> Response:
        path = VENDOR.get(request.path_params["name"])
        if path is None:
            return Response("not found", status_code=404, media_type="text/plain")
        if not path.exists():
            return Response(f"{path.name} is not installed in {WEB}: run `make install` (npm ci there)",
                            status_code=503, media_type="text/plain")
        return FileResponse(path, media_type="text/javascript")

    return Starlette(routes=[
        Route("/", page), Route("/vendor/{name}", vendor),
        Route("/api/hexes", answer(hexes)), Route("/api/summary", answer(summary)),
        Route("/api/shipments", answer(shipments)),
        Route("/healthz", lambda _r: JSONResponse({"ok": True})),
        Mount("/static", StaticFiles(directory=WEB / "static")),
    ])


def process(config: Config):
    """The map server ``lastmile map --background`` leaves running (``lastmile down`` stops it)."""
    from lastmile.stack.process import ManagedProcess

    return ManagedProcess("map", config.home / "run", marker="lastmile.map.server")


def healthy(host: str, port: int, timeout_s: float = 1.0) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=timeout_s) as resp:
            return resp.status == 200
    except OSError:
        return False


def start_background(config: Config, host: str, port: int, env: dict | None = None) -> None:
    """Start the server detached (a running one of this home is stopped first), wait until it
    answers. ``env``: its environment (this process's by default)."""
    import os
    import sys

    from lastmile.errors import StackError
    from lastmile.stack.process import port_is_free, wait_until

    managed = process(config)
    managed.stop()
    if not port_is_free(host, port):
        raise StackError(f"port {port} on {host} is taken: pick another with --port")
    managed.start([sys.executable, "-m", "lastmile.map.server", host, str(port)], cwd=pathlib.Path.cwd(),
                  env=dict(os.environ) if env is None else env)
    wait_until(lambda: healthy(host, port), 30, "the map server", alive=managed.started_alive,
               log=managed.log_file)


def serve(config: Config, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", access_log=False)


def main(argv: list[str] | None = None) -> None:
    """``python -m lastmile.map.server HOST PORT``: what ``lastmile map --background`` starts."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    serve(Config.from_env(), args[0], int(args[1]))


if __name__ == "__main__":
    main()
