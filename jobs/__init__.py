"""Flink job graphs: each module has ``build(env, sources, sinks, config)``."""
