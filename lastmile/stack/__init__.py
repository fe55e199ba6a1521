"""Control of the local stack: a KRaft Kafka broker and a ClickHouse server.

Everything runs as plain child processes under ``LASTMILE_HOME`` (logs, data, pid
files); nothing is installed system-wide. See ``lastmile up|down|status``.
"""
