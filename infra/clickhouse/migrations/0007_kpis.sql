-- The ecosystem's KPIs per partner and day (docs/kpis.md), maintained as the job writes:
-- materialized views fill aggregate tables on every insert, and every aggregate is keyed or
-- counted by the record's identity (event_id, shipment_id, dead_letter_id), so the rows a
-- replay or a retried insert writes again change nothing. Days are UTC days of event time.

-- Statuses: attempts (DELIVERED or FAILED_ATTEMPT events), failed attempts, shipments delivered.
CREATE TABLE IF NOT EXISTS kpi_status_daily
(
    partner_id LowCardinality(String),
    day        Date,
    attempts   AggregateFunction(uniqExactIf, UUID, UInt8),
    failed     AggregateFunction(uniqExactIf, UUID, UInt8),
    delivered  AggregateFunction(uniqExactIf, String, UInt8)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_status_daily_mv TO kpi_status_daily AS
SELECT partner_id, toDate(event_time) AS day,
       uniqExactIfState(event_id, status IN ('DELIVERED', 'FAILED_ATTEMPT')) AS attempts,
       uniqExactIfState(event_id, status = 'FAILED_ATTEMPT') AS failed,
       uniqExactIfState(shipment_id, status = 'DELIVERED') AS delivered
FROM shipment_status
GROUP BY partner_id, day;

-- Each shipment's first delivery, and its task's latest window (by event time): the on-time rate.
CREATE TABLE IF NOT EXISTS kpi_deliveries
(
    partner_id   LowCardinality(String),
    shipment_id  String,
    delivered_at SimpleAggregateFunction(min, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (partner_id, shipment_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_deliveries_mv TO kpi_deliveries AS
SELECT partner_id, shipment_id, min(event_time) AS delivered_at
FROM shipment_status
WHERE status = 'DELIVERED'
GROUP BY partner_id, shipment_id;

CREATE TABLE IF NOT EXISTS kpi_task_windows
(
    partner_id   LowCardinality(String),
    shipment_id  String,
    window_start AggregateFunction(argMax, DateTime64(3, 'UTC'), DateTime64(3, 'UTC')),
    window_end   AggregateFunction(argMax, DateTime64(3, 'UTC'), DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (partner_id, shipment_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_task_windows_mv TO kpi_task_windows AS
SELECT partner_id, shipment_id, argMaxState(window_start, event_time) AS window_start,
       argMaxState(window_end, event_time) AS window_end
FROM delivery_tasks
GROUP BY partner_id, shipment_id;

-- Every accepted event's feed latency at its first arrival (ingested_at - event_time), one row
-- per event: received counts and exact latency quantiles, whatever was written twice.
CREATE TABLE IF NOT EXISTS kpi_feed_events
(
    partner_id LowCardinality(String),
    day        Date,
    stream     LowCardinality(String),
    event_id   UUID,
    latency_ms SimpleAggregateFunction(min, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, stream, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_feed_tasks_mv TO kpi_feed_events AS
SELECT partner_id, toDate(event_time) AS day, 'delivery_tasks' AS stream, event_id,
       min(toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(event_time)) AS latency_ms
FROM delivery_tasks GROUP BY partner_id, day, event_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_feed_statuses_mv TO kpi_feed_events AS
SELECT partner_id, toDate(event_time) AS day, 'shipment_status' AS stream, event_id,
       min(toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(event_time)) AS latency_ms
FROM shipment_status GROUP BY partner_id, day, event_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_feed_positions_mv TO kpi_feed_events AS
SELECT partner_id, toDate(event_time) AS day, 'vehicle_positions' AS stream, event_id,
       min(toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(event_time)) AS latency_ms
FROM vehicle_positions GROUP BY partner_id, day, event_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_feed_offers_mv TO kpi_feed_events AS
SELECT partner_id, toDate(event_time) AS day, 'capacity_offers' AS stream, event_id,
       min(toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(event_time)) AS latency_ms
FROM capacity_offers GROUP BY partner_id, day, event_id;

-- Refused records per partner, day (of their refusal), stage and reason.
CREATE TABLE IF NOT EXISTS kpi_dead_letters_daily
(
    partner_id   LowCardinality(String),
    day          Date,
    stage        LowCardinality(String),
    reason       LowCardinality(String),
    dead_letters AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, stage, reason);

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_dead_letters_daily_mv TO kpi_dead_letters_daily AS
SELECT ifNull(partner_id, '') AS partner_id, toDate(received_at) AS day, stage, reason,
       uniqExactState(dead_letter_id) AS dead_letters
FROM dead_letters
GROUP BY partner_id, day, stage, reason;

-- Each shipment's last ETA (by the position that produced it): the ETA accuracy.
CREATE TABLE IF NOT EXISTS kpi_last_eta
(
    partner_id  LowCardinality(String),
    shipment_id String,
    eta         AggregateFunction(argMax, DateTime64(3, 'UTC'), DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (partner_id, shipment_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_last_eta_mv TO kpi_last_eta AS
SELECT partner_id, shipment_id, argMaxState(eta, predicted_at) AS eta
FROM eta_predictions
GROUP BY partner_id, shipment_id;
