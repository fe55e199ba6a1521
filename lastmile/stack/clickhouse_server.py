"""Process entry point that serves ClickHouse from the chdb-core engine.

``python -m lastmile.stack.clickhouse_server RUN_DIR DATA_DIR``

chdb's LocalServer reads ``config.xml`` from the working directory, opens the real
HTTP and native TCP listeners, and serves for as long as a query keeps running.
The "holding" query below sleeps forever; SIGTERM ends the process (data in
DATA_DIR survives, also a SIGKILL). The output format must be TSV: it becomes the
server's default, and clickhouse-connect's version handshake fails with CSV.
"""
import os
import sys

HOLD = ("SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; "
        "SELECT sleepEachRow(1) FROM system.numbers SETTINGS max_block_size = 1")


def main(argv: list[str]) -> int:
    run_dir, data_dir = argv
    os.chdir(run_dir)
    import chdb._chdb as engine  # imported late: it is large, and reads cwd on load

    result = engine.query(HOLD, "TSV", path=data_dir)
    # Only reached when the listeners could not open (e.g. port in use) or the
    # holding query was killed; either way the server is gone.
    error = getattr(result, "error_message", lambda: "")() if result is not None else ""
    print(f"clickhouse server stopped: {error or 'holding query ended'}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
