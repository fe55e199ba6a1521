"""Pure logic of the pipeline (no pyflink import outside ``udfs.flink``)."""
