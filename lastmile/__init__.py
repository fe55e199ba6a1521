"""lastmile: shared last-mile delivery coordination on Kafka, PyFlink and ClickHouse."""

__version__ = "0.1.0"
