"""The `lastmile` command line.

Every expected failure (bad flag value, unreachable broker, port in use) ends as
one readable line on stderr and a non-zero exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from lastmile.config import Config
from lastmile.errors import ConfigError, LastmileError
from lastmile.simulator.city import CITIES
from lastmile.simulator.plan import SimConfig
from lastmile.topics import STREAMS

#: Flags that set a Config field of the same name (a flag given wins over the environment).
CONFIG_FLAGS = ("parallelism", "colocation_radius_m")


def _config(args: argparse.Namespace) -> Config:
    """The configuration of this command: the environment, then the flags it was given (one way for all)."""
    return Config.from_env(**{name: getattr(args, name, None) for name in CONFIG_FLAGS})


def cmd_up(args):
    from lastmile.stack import control

    control.up(_config(args), say=_say(args), secure=args.secure)


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


def cmd_report(args):
    import pathlib

    from lastmile import kpis, report

    config = _config(args)
    if args.partner:
        from udfs.contracts.topics import check_partner_id

        try:
            check_partner_id(args.partner)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    period = kpis.Period(args.since, args.until)
    _refresh_savings(config)
    found = report.build(config, period, args.partner)
    if args.html:
        path = pathlib.Path(args.html).absolute()
        report.write_html(config, found, period, path)
        found["html"] = str(path)
    if args.json:
        print(json.dumps(found, default=str))
        return 0
    report.print_table(found)
    if args.html:
        print(f"report with charts: {found['html']}")
    return 0


def _refresh_savings(config) -> None:
    """Evaluate the settled proposals on the routes driven (lastmile/savings.py) before a report.
    An account that may not (an analyst's) reads what is there; the line says so."""
    from clickhouse_connect.driver.exceptions import DatabaseError

    from lastmile import savings

    try:
        savings.refresh(config)
    except DatabaseError as exc:
        print(f"proposal savings not refreshed (the report shows those evaluated before): {str(exc).splitlines()[0]}",
              file=sys.stderr)


def cmd_audit(args):
    from lastmile import audit

    found = audit.audit(_config(args), args.proposal_id)
    if args.json:
        print(json.dumps(found, default=str))
        return 0 if found["same_decision"] else 1
    from rich.console import Console
    from rich.table import Table

    p = found["proposal"]
    console = Console()
    console.print(f"proposal [bold]{p['proposal_id']}[/bold]: {p['assigned_partner']} serves {len(p['shipments'])} "
                  f"deliveries of {', '.join(found['partners'])} with offer {p['assigned_offer']}; "
                  f"{p['km_separate']} km separately, {p['km_consolidated']} km together, {p['km_saved']} km saved")
    console.print(f"kernel {found['kernel_version']}, decided at event time {found['decided_at']} ms, "
                  f"inputs sha256 {found['inputs_digest']} (checked against the proposal and its id)")
    table = Table(title="candidates considered")
    for col in ("offer", "spare l / stops", "needs l / stops", "room", "on time", "km together", "km saved", ""):
        table.add_column(col, justify="left" if col in ("offer", "") else "right")
    yes_no = {True: "yes", False: "no", None: "-"}
    for c in found["candidates"]:
        table.add_row(c["offer_key"], f"{c['spare_volume_l']:g} / {c['spare_stops']}",
                      f"{c['needs_volume_l']:g} / {c['needs_stops']}", yes_no[c["room"]], yes_no[c["on_time"]],
                      "-" if c["km_consolidated"] is None else f"{c['km_consolidated']:.3f}",
                      "-" if c["km_saved"] is None else f"{c['km_saved']:.3f}", "chosen" if c["chosen"] else "")
    console.print(table)
    for rule in found["constraints"]:
        console.print(f"  - {rule}")
    if found["same_decision"]:
        console.print("replayed from the audit log: the same decision")
        return 0
    console.print("[red]replayed from the audit log: a different decision[/red]")
    return 1


def cmd_state(args):
    import pathlib

    from lastmile import state

    config = _config(args)
    if args.checkpoint:
        checkpoint = pathlib.Path(args.checkpoint).absolute()
        operators = state.census(config, checkpoint)
    else:
        checkpoint, operators = state.newest_census(config)
    if args.json:
        print(json.dumps({"checkpoint": str(checkpoint), "operators": [dataclasses.asdict(o) for o in operators]}))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"state per operator in {checkpoint}")
    for col in ("operator", "uid", "keyed", "operator state", "total"):
        table.add_column(col, justify="left" if col in ("operator", "uid") else "right")
    for o in operators:
        if o.total_bytes:
            table.add_row(o.name, o.uid, _size(o.keyed_bytes), _size(o.operator_bytes), _size(o.total_bytes))
    stateless = sum(1 for o in operators if not o.total_bytes)
    table.add_row(f"[bold]all[/bold] (and {stateless} operators without state)", "", "", "",
                  f"[bold]{_size(sum(o.total_bytes for o in operators))}[/bold]")
    Console().print(table)
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def cmd_partners(args):
    from lastmile import partner_admin

    config = _config(args)
    if args.action in ("add", "remove", "share") and not args.partner:
        raise ConfigError(f"`lastmile partners {args.action}` needs a partner id")
    if args.action == "share":
        return _partner_agrees(config, args)
    if args.action == "add":
        made = partner_admin.add(config, args.partner, args.produce_mb_s * (1 << 20), args.fetch_mb_s * (1 << 20))
        if args.json:
            print(json.dumps(made))
        else:
            print(f"partner {made['partner_id']} added; its passwords are shown this once and kept nowhere:")
            print(f"  Kafka      {made['kafka']['security_protocol']} {made['kafka']['mechanism']} "
                  f"user {made['kafka']['username']} password {made['kafka']['password']}")
            print(f"  ClickHouse user {made['clickhouse']['username']} password {made['clickhouse']['password']}")
    elif args.action == "remove":
        partner_admin.remove(config, args.partner)
        print(f"partner {args.partner} removed: its Kafka and ClickHouse accounts are gone")
    else:
        partners = partner_admin.listed(config)
        if args.json:
            print(json.dumps(partners))
        for p in [] if args.json else partners:
            print(f"{p['partner_id']}\tadded {time.strftime('%Y-%m-%d %H:%M', time.gmtime(p['added_at'] or 0))} UTC")
    return 0


def _partner_agrees(config, args) -> int:
    """``partners share P``: record P's agreements (any stack; the job reads them when it starts)."""
    from lastmile import sharing

    try:
        kept = sharing.agree(config.home, args.partner, named=args.named, same_recipient=args.same_recipient)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    mine = {field: args.partner in getattr(kept, field) for field in sharing.FIELDS}
    if args.json:
        print(json.dumps({"partner_id": args.partner, **mine}))
    else:
        print(f"partner {args.partner}: named to partners who agreed too: {'yes' if mine['named'] else 'no'}; "
              f"same_recipient shared with partners who agreed too: {'yes' if mine['same_recipient'] else 'no'} "
              "(from the job's next start)")
    return 0


def cmd_cluster(args):
    from lastmile.stack import flink

    config = _config(args)
    if args.action == "up":
        flink.up(config)
    elif args.action == "down":
        flink.down(config)
    else:
        current = flink.status(config)
        if args.json:
            print(json.dumps(current))
        else:
            print(f"flink cluster at {current['address']}: " + (
                f"running, {current['taskmanagers']} task managers, {current['slots']} slots, "
                f"{current['jobs_running']} jobs running" if current["running"] else "not running"))
        return 0 if current["running"] else 1


def cmd_map(args):
    from lastmile.errors import StackError
    from lastmile.map import server
    from lastmile.stack.process import port_is_free

    config = _config(args)
    url = f"http://{args.host}:{args.port}/"
    if args.background:
        server.start_background(config, args.host, args.port)
        print(f"live map: {url} (partner views: {url}?partner=P; `lastmile down` stops it)")
        return 0
    if not port_is_free(args.host, args.port):
        raise StackError(f"port {args.port} on {args.host} is taken: pick another with --port")
    print(f"live map: {url} (partner views: {url}?partner=P; Ctrl-C stops it)", flush=True)
    server.serve(config, args.host, args.port)
    return 0


def cmd_migrate(args):
    from lastmile import migrations

    applied = migrations.apply(_config(args))
    print(f"applied: {', '.join(applied)}" if applied else "up to date")


def cmd_fetch_jars(args):
    import pathlib
    import shutil

    from lastmile.stack import jars

    config = _config(args)
    for name, path in jars.fetch_all(config).items():
        print(f"{name}: {path}")
    if args.into:  # a Flink distribution's lib/ (an image, an existing cluster): the job's jars
        into = pathlib.Path(args.into)
        into.mkdir(parents=True, exist_ok=True)
        for jar in jars.flink_connector_jars(config):
            shutil.copyfile(jar, into / jar.name)
            print(f"copied {jar.name} into {into}")


def cmd_smoke(args):
    from lastmile import smoke

    config = _config(args)
    result = smoke.run_and_report(config)
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


def cmd_simulate(args):
    import pathlib

    from lastmile.simulator.feed import MessConfig
    from lastmile.simulator.plan import SimConfig
    from lastmile.simulator.run import simulate, write_truth
    from lastmile.simulator.sinks import FileSink, KafkaSink

    config = _config(args)
    sim = SimConfig(city=args.city, partners=args.partners, retailers=args.retailers,
                    tasks_per_day=args.tasks_per_day, days=args.days, start_ms=args.start, seed=args.seed,
                    ping_interval_s=args.ping_interval, failure_share=args.failure_share,
                    ecosystem_key=config.ecosystem_key or SimConfig.ecosystem_key, partner_prefix=args.partner_prefix,
                    hotspot_share=args.hotspot_share)
    mess = MessConfig(late_share=args.late_share, max_delay_s=args.max_delay, duplicate_share=args.duplicate_share,
                      malformed_share=args.malformed_share)
    sink = FileSink(pathlib.Path(args.out)) if args.out else KafkaSink(config, sim.ecosystem_key)
    result = simulate(sim, mess, sink, events=args.events, rate=args.rate, duration_s=args.duration,
                      radius_m=config.colocation_radius_m, progress=not args.json)
    if args.truth:
        write_truth(result, pathlib.Path(args.truth))
    summary = {**result.truth["summary"], "seconds": round(result.seconds, 2), "events_per_s": round(result.rate),
               "target": args.out or config.kafka_bootstrap}
    if args.json:
        print(json.dumps(summary))
    else:
        s = summary
        print(f"{s['events']:,} events in {s['seconds']} s ({s['events_per_s']:,}/s) to {s['target']}: "
              f"{s['delivery_tasks']:,} delivery tasks, {s['colocated_pairs']:,} co-located pairs "
              f"(co-location rate {s['colocation_rate']:.1%}), failure share {s['failure_share']:.1%}, "
              f"{s['duplicates']:,} duplicates, {sum(s['malformed'].values()):,} malformed")


def cmd_run(args):
    from lastmile import run, run_summary

    config = _config(args)
    if args.detach:
        if not args.jobmanager:
            raise ConfigError("--detach submits to a cluster: give its --jobmanager HOST:PORT")
        job_id = run.submit_detached(config, args.bounded, args.jobmanager, args.from_savepoint)
        print(json.dumps({"job_id": job_id}) if args.json else
              f"job {job_id} submitted to {args.jobmanager} (`lastmile savepoint {job_id} --stop` stops it with a savepoint)")
        return 0
    seconds = run.run(config, bounded=args.bounded, jobmanager=args.jobmanager, progress=not args.json,
                      from_savepoint=args.from_savepoint)
    finished_at_ms = int(time.time() * 1000)  # every row is in ClickHouse: the sinks flushed at the end of input
    if args.json:
        print(json.dumps({"seconds": round(seconds, 1), "finished_at_ms": finished_at_ms,
                          **run_summary.summary(config)}))
    else:
        run_summary.print_summary(run_summary.summary(config), seconds)


def cmd_savepoint(args):
    from lastmile.stack import flink

    config = _config(args)
    if args.jobmanager:
        config = config.with_overrides(flink_rest=args.jobmanager)
    path = flink.savepoint(config, args.job_id, stop=args.stop)
    print(json.dumps({"savepoint": path}) if args.json else
          f"savepoint of job {args.job_id}: {path}" + (" (job stopped)" if args.stop else ""))
    return 0


def cmd_bench(args):
    if args.kpis:
        return _bench_kpis(args)
    if args.map:
        return _bench_map(args)
    if args.scaling:
        return _bench_scaling(args)
    if not (args.kernels or args.eta_accuracy):
        return _bench_pipeline(args)
    result = {}
    if args.kernels:
        from lastmile.bench import kernels

        with _spinner("measuring kernels (Numba, numpy, plain Python; cold and cached JIT)", args.json):
            result.update(kernels.run())
    if args.eta_accuracy:
        from lastmile.bench import eta_accuracy

        result["eta_accuracy"] = []
        for city in args.city or eta_accuracy.DEFAULT_CITIES:
            with _progress_bar(f"ETA accuracy, {city}: replaying a simulated week + 1 day", args.json) as advance:
                accuracy = eta_accuracy.run(city=city, seed=args.seed, progress=advance)
            result["eta_accuracy"].append(accuracy)
            if not args.json:
                eta_accuracy.print_report(accuracy)
    if args.json:
        print(json.dumps(result))
    elif args.kernels:
        for key, value in result.items():
            if key != "eta_accuracy":
                print(f"{key:>34}: {value:,}" if isinstance(value, (int, float)) else f"{key:>34}: {value}")


def _bench_one(args, module: str, measure) -> int:
    """A benchmark of ``lastmile.bench.<module>``: ``measure(say)`` its result, then a table
    (the module's ``print_report``) or, with ``--json``, one JSON line. Progress on stderr."""
    import importlib

    say = (lambda _m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    result = measure(say)
    if args.json:
        print(json.dumps(result))
    else:
        importlib.import_module(f"lastmile.bench.{module}").print_report(result)
    return 0


def _bench_kpis(args):
    from lastmile.bench import kpis

    return _bench_one(args, "kpis", lambda say: kpis.run(_config(args), args.kpi_events, say=say))


def _bench_map(args):
    from lastmile.bench import map as map_bench

    return _bench_one(args, "map", lambda say: map_bench.run(_config(args), say=say))


def _bench_scaling(args):
    from lastmile.bench import scaling

    return _bench_one(args, "scaling", lambda say: scaling.run(args.events, say=say, progress=not args.json,
                                                               hotspot_share=args.hotspot_share))


def _bench_pipeline(args):
    import pathlib

    from lastmile.bench import pipeline

    phases = [p for p in pipeline.PHASES if p not in (args.skip or [])]

    def measure(say) -> dict:
        warmup = {} if args.latency_warmup is None else {"warmup_s": args.latency_warmup}
        result = pipeline.run(args.events, args.rate, args.latency_seconds, phases, say=say,
                              progress=not args.json, repeat=args.repeat, **warmup)
        if args.record:
            pipeline.record(result, pathlib.Path("BENCHMARKS.md"), args.record)
        return result

    return _bench_one(args, "pipeline", measure)


def _progress_bar(text: str, quiet: bool):
    """A context manager yielding ``advance(done, total)``; silent when ``quiet``."""
    import contextlib

    @contextlib.contextmanager
    def bar():
        if quiet:
            yield lambda done, total: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn(text), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True)) as progress:
            task = progress.add_task(text, total=None)
            yield lambda done, total: progress.update(task, completed=done, total=total)

    return bar()


def _spinner(text: str, quiet: bool):
    import contextlib

    if quiet:
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(text)


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
    p.add_argument("--secure", action="store_true",
                   help="authenticate every client and authorize it per partner (docs/security.md)")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop everything `up` started")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="each component, its address and health (exit 1 if any is unhealthy)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("state", help="the coordination job's state per operator, from its newest checkpoint")
    p.add_argument("--checkpoint", metavar="DIR", help="a chk-N folder (default: the newest under LASTMILE_HOME)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_state)
    p = sub.add_parser("report", help="the ecosystem's KPIs per partner (docs/kpis.md): a table, JSON or HTML charts")
    p.add_argument("--since", type=_date, help="first day (UTC, inclusive)")
    p.add_argument("--until", type=_date, help="last day (UTC, inclusive)")
    p.add_argument("--partner", help="one partner only")
    p.add_argument("--json", action="store_true", help="one JSON object on the last line")
    p.add_argument("--html", metavar="FILE", help="also write one self-contained HTML file with the charts")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("audit", help="why a consolidation was proposed: its decision replayed from the audit log")
    p.add_argument("proposal_id")
    p.add_argument("--json", action="store_true", help="one JSON object on the last line")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("partners", help="a secure stack's partners: their Kafka and ClickHouse accounts and rights; "
                                         "what each agreed to share in inboxes (share)")
    p.add_argument("action", choices=["add", "remove", "list", "share"])
    p.add_argument("partner", nargs="?", help="partner id (add, remove, share)")
    p.add_argument("--named", action=argparse.BooleanOptionalAction, default=None,
                   help="share: P agrees (--named) or not (--no-named) to be named to partners who agreed too")
    p.add_argument("--same-recipient", action=argparse.BooleanOptionalAction, default=None,
                   help="share: P agrees (or not) to learn and tell whether matched deliveries share a recipient")
    p.add_argument("--json", action="store_true", help="add: the credentials as JSON on the last line")
    p.add_argument("--produce-mb-s", type=_positive_float, default=4.0, help="add: its Kafka produce quota, MiB/s")
    p.add_argument("--fetch-mb-s", type=_positive_float, default=16.0, help="add: its Kafka fetch quota, MiB/s")
    p.set_defaults(func=cmd_partners)
    p = sub.add_parser("cluster", help="a standalone Flink cluster here: JobManager + TaskManagers (LASTMILE_FLINK_REST)")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cluster)
    p = sub.add_parser("map", help="the live map: every partner's active deliveries as H3 hexes, in a browser")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8088)
    p.add_argument("--background", action="store_true", help="leave it running (`lastmile down` stops it)")
    p.set_defaults(func=cmd_map)
    p = sub.add_parser("migrate", help="apply pending ClickHouse migrations")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("fetch-jars", help="fetch the Kafka broker and Flink connector jars into the cache")
    p.add_argument("--into", metavar="DIR", help="also copy the job's jars (connectors, udfs/jvm) into DIR, "
                                                 "e.g. a Flink distribution's lib/")
    p.set_defaults(func=cmd_fetch_jars)
    p = sub.add_parser("ingest", help="validate, encode and produce a JSON Lines file; rejects go to dead letters")
    p.add_argument("--partner", required=True, help="partner id, e.g. acme-parcels")
    p.add_argument("--stream", required=True, choices=list(STREAMS))
    p.add_argument("file", metavar="FILE|-", help="JSON Lines file, or - for standard input")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("run", help="the coordination job (local MiniCluster unless --jobmanager)")
    p.add_argument("--bounded", action="store_true", help="process what is in the topics now, flush, exit")
    p.add_argument("--parallelism", type=_positive_int)
    p.add_argument("--colocation-radius-m", type=_positive_float)
    p.add_argument("--jobmanager", metavar="HOST:PORT", help="submit to this Flink cluster's REST endpoint")
    p.add_argument("--detach", action="store_true", help="with --jobmanager: return once submitted, print the job id")
    p.add_argument("--from-savepoint", metavar="PATH", help="start from this savepoint (or retained checkpoint)")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("savepoint", help="take a savepoint of a job on a Flink cluster, and stop it with --stop")
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--stop", action="store_true", help="stop the job once the savepoint is taken")
    p.add_argument("--jobmanager", metavar="HOST:PORT", help="the cluster's REST endpoint (LASTMILE_FLINK_REST)")
    p.add_argument("--json", action="store_true", help="print {\"savepoint\": path} as the last line")
    p.set_defaults(func=cmd_savepoint)
    p = sub.add_parser("simulate", help="a realistic multi-partner city feed, to Kafka or JSON Lines, with truth")
    p.add_argument("--city", choices=sorted(CITIES), default="berlin")
    p.add_argument("--partners", type=_positive_int, default=5, help="carriers publishing feeds")
    p.add_argument("--retailers", type=_non_negative_int, default=3, help="retailers named on the tasks")
    p.add_argument("--partner-prefix", default="", help="prepended to every partner id, e.g. t1-")
    p.add_argument("--tasks-per-day", type=_positive_int, default=5000)
    p.add_argument("--hotspot-share", type=_share, default=0.0,
                   help="share of the deliveries that go to one block (a hot spot: skew across the job's subtasks)")
    p.add_argument("--days", type=_positive_int, default=1, help="simulated days")
    p.add_argument("--start", type=_timestamp_ms, default=SimConfig.start_ms,
                   help="first simulated day, ISO-8601 (default 2025-11-03T00:00:00Z)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--rate", type=_positive_float, help="events per second in real time (default: unpaced)")
    p.add_argument("--events", type=_positive_int, help="stop after this many events")
    p.add_argument("--duration", type=_duration_s, help="stop after this much wall-clock time, e.g. 90s, 5m")
    p.add_argument("--out", metavar="DIR", help="write JSON Lines files for `lastmile ingest` instead of Kafka")
    p.add_argument("--truth", metavar="FILE", help="write the ground truth (JSON) of what was emitted")
    p.add_argument("--ping-interval", type=_positive_float, default=30.0, help="seconds between positions")
    p.add_argument("--failure-share", type=_share, default=0.07)
    p.add_argument("--late-share", type=_share, default=0.02, help="events arriving minutes late")
    p.add_argument("--max-delay", type=_positive_float, default=600.0, help="seconds a late event can lag")
    p.add_argument("--duplicate-share", type=_share, default=0.01)
    p.add_argument("--malformed-share", type=_share, default=0.005)
    p.add_argument("--colocation-radius-m", type=_positive_float)
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("bench", help="performance benchmarks (see BENCHMARKS.md)")
    p.add_argument("--kernels", action="store_true", help="the Numba kernels against Python and numpy")
    p.add_argument("--kpis", action="store_true", help="each KPI query's time on a synthetic month (--kpi-events)")
    p.add_argument("--kpi-events", type=_positive_int, default=10_000_000, help="events of --kpis' month")
    p.add_argument("--map", action="store_true", help="the live map API's answer times on what the stack holds")
    p.add_argument("--scaling", action="store_true",
                   help="the job on the standalone cluster with 1 and 2 TaskManagers (--events), and its subtask skew")
    p.add_argument("--hotspot-share", type=_share, default=0.0,
                   help="--scaling: this share of the deliveries to one block (a skewed city)")
    p.add_argument("--eta-accuracy", action="store_true",
                   help="learned ETAs against a naive baseline on a simulated city (a week to learn, a day to judge)")
    p.add_argument("--events", type=_positive_int, default=300_000, help="workload size of the pipeline benchmark")
    p.add_argument("--repeat", type=_positive_int, default=3,
                   help="runs of the job and of the naive consumer, in turn (medians, ratio of the pairs)")
    p.add_argument("--rate", type=_positive_float, default=5_000.0, help="events/s of the live latency phase")
    p.add_argument("--latency-seconds", type=_positive_float, default=60.0, help="length of the live latency phase")
    p.add_argument("--latency-warmup", type=_non_negative_float, metavar="SECONDS",
                   help="before the latency phase's day, the day before it paced for this long (default: "
                        "lastmile/bench/pipeline.py's WARMUP_S; 0: a cold job)")
    p.add_argument("--skip", action="append", choices=["throughput", "cluster", "baseline", "latency"],
                   help="leave a phase out (repeatable)")
    p.add_argument("--record", metavar="NOTE", help="append the figures to BENCHMARKS.md, NOTE naming the change")
    p.add_argument("--city", choices=sorted(CITIES), action="append",
                   help="city of --eta-accuracy (repeatable; default: berlin and munich)")
    p.add_argument("--seed", type=int, default=7, help="simulator seed of --eta-accuracy")
    p.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("contract-doc", help="regenerate docs/data-contract.md from the schemas and rules")
    p.set_defaults(func=cmd_contract_doc)
    p = sub.add_parser("smoke", help="run the PyFlink smoke job over the position topics, show what reached ClickHouse")
    p.add_argument("--parallelism", type=_positive_int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_smoke)
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, got {text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else _positive_int(text)


def _number(text: str, ok, expected: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
    return value


def _positive_float(text: str) -> float:
    return _number(text, lambda v: 0 < v < float("inf"), "a positive number")


def _non_negative_float(text: str) -> float:
    return _number(text, lambda v: 0 <= v < float("inf"), "a number of 0 or more")


def _share(text: str) -> float:
    return _number(text, lambda v: 0.0 <= v <= 1.0, "a share between 0 and 1")


def _duration_s(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    return _positive_float(number) * units[unit]


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _timestamp_ms(text: str) -> int:
    import datetime as dt

    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO-8601 date or time, got {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


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
