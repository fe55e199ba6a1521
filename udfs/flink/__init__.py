"""Thin Flink function classes; each calls pure logic from ``udfs``."""
