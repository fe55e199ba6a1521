"""The `lastmile` command line.

Every expected failure (bad flag value, unreachable broker, port in use) ends as
one readable line on stderr and a non-zero exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys

from lastmile.config import Config
from lastmile.errors import LastmileError
from lastmile.topics import STREAMS


def _config(args: argparse.Namespace) -> Config:
    return Config.from_env(parallelism=getattr(args, "parallelism", None))


def cmd_up(args):
    from lastmile.stack import control

    control.up(_config(args), say=_say(args))


def cmd_down(args):
    from lastmile.stack import control

    control.down(_config(args), say=_say(args))


def cmd_status(args):
    from lastmile.stack import control

    config = _config(args)
    rows = control.status(config)
    if args.json:
        print(json.dumps([{"component": r.name, "address": r.address, "managed": r.managed, "pid": r.pid,
                           "state": r.state} for r in rows]))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"lastmile stack ({config.home})")
        for col in ("component", "address", "pid", "state"):
            table.add_column(col)
        for r in rows:
            colour = "green" if r.healthy else "red"
            table.add_row(r.name, r.address, str(r.pid or ("external" if not r.managed else "-")),
                          f"[{colour}]{r.state}[/{colour}]")
        Console().print(table)
    return 0 if all(r.healthy for r in rows) else 1


def cmd_migrate(args):
    from lastmile import migrations

    applied = migrations.apply(_config(args))
    print(f"applied: {', '.join(applied)}" if applied else "up to date")


def cmd_fetch_jars(args):
    from lastmile.stack import jars

    for name, path in jars.fetch_all(_config(args)).items():
        print(f"{name}: {path}")


def cmd_smoke(args):
    from jobs import smoke

    config = _config(args)
    result = smoke.run_demo(config, records=args.records, partner_id=args.partner)
    if args.json:
        print(json.dumps(result))
    else:
        smoke.print_result(result)


def cmd_ingest(args):
    from lastmile.ingest import ingest

    summary = ingest(_config(args), args.partner, args.stream, args.file, show_progress=not args.json)
    if not args.json:
        print(f"accepted {summary.accepted}, rejected {summary.rejected} ({summary.seconds:.1f} s)")
        for reason, count in sorted(summary.reasons.items()):
            print(f"  {reason}: {count}")
    else:
        print(json.dumps(summary.as_json()))


def cmd_contract_doc(args):
    from lastmile import contract_doc

    print(f"wrote {contract_doc.write()}")


def _say(args):
    return (lambda _msg: None) if getattr(args, "quiet", False) else (lambda msg: print(msg, flush=True))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lastmile", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="start the local Kafka broker and ClickHouse server, migrate, create topics")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop everything `up` started")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="each component, its address and health (exit 1 if any is unhealthy)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("migrate", help="apply pending ClickHouse migrations")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("fetch-jars", help="fetch the Kafka broker and Flink connector jars into the cache")
    p.set_defaults(func=cmd_fetch_jars)
    p = sub.add_parser("ingest", help="validate, encode and produce a JSON Lines file; rejects go to dead letters")
    p.add_argument("--partner", required=True, help="partner id, e.g. acme-parcels")
    p.add_argument("--stream", required=True, choices=list(STREAMS))
    p.add_argument("file", metavar="FILE|-", help="JSON Lines file, or - for standard input")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("contract-doc", help="regenerate docs/data-contract.md from the schemas and rules")
    p.set_defaults(func=cmd_contract_doc)
    p = sub.add_parser("smoke", help="produce generated positions, run the PyFlink smoke job, show the rows")
    p.add_argument("--records", type=_positive_int, default=1000)
    p.add_argument("--partner", default="smoke-carrier")
    p.add_argument("--parallelism", type=_positive_int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_smoke)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except LastmileError as exc:
        print(f"lastmile: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lastmile: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
