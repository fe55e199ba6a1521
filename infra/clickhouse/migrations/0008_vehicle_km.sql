-- The distance each van drove, per van and ETA interval, written by the job's tracker
-- (udfs.pings.driven_m: great-circle legs between consecutive positions, each at most 10
-- minutes long and not faster than 40 m/s). The km-driven KPI adds it up per partner and
-- day (docs/kpis.md); a replay writes the same rows again, which FINAL collapses.

CREATE TABLE IF NOT EXISTS vehicle_km
(
    partner_id  LowCardinality(String),
    vehicle_id  String,
    interval_at DateTime64(3, 'UTC') COMMENT 'event time of the last position of the van in the interval',
    metres      Float64 CODEC(Gorilla, ZSTD(1)),
    pings       UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(interval_at)
ORDER BY (partner_id, vehicle_id, interval_at);
