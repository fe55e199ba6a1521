-- Schema adherence: every accepted event keeps the version of the schema its partner wrote it
-- with (Avro single-object fingerprint -> avro_schemas/<Record>/v<N>.avsc); rows written before
-- this migration have 0. kpi_schema_daily counts distinct events per partner, day, stream and
-- version (a replay adds nothing); the rejected share comes from kpi_dead_letters_daily.

ALTER TABLE delivery_tasks ADD COLUMN IF NOT EXISTS schema_version UInt16 DEFAULT 0
    COMMENT 'version of the schema the partner wrote the record with (0: not recorded)';
ALTER TABLE shipment_status ADD COLUMN IF NOT EXISTS schema_version UInt16 DEFAULT 0
    COMMENT 'version of the schema the partner wrote the record with (0: not recorded)';
ALTER TABLE vehicle_positions ADD COLUMN IF NOT EXISTS schema_version UInt16 DEFAULT 0
    COMMENT 'version of the schema the partner wrote the record with (0: not recorded)';
ALTER TABLE capacity_offers ADD COLUMN IF NOT EXISTS schema_version UInt16 DEFAULT 0
    COMMENT 'version of the schema the partner wrote the record with (0: not recorded)';

CREATE TABLE IF NOT EXISTS kpi_schema_daily
(
    partner_id     LowCardinality(String),
    day            Date,
    stream         LowCardinality(String),
    schema_version UInt16,
    records        AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (partner_id, day, stream, schema_version);

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_schema_daily_tasks_mv TO kpi_schema_daily AS
SELECT partner_id, toDate(event_time) AS day, 'delivery_tasks' AS stream, schema_version,
       uniqExactState(event_id) AS records
FROM delivery_tasks GROUP BY partner_id, day, schema_version;

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_schema_daily_status_mv TO kpi_schema_daily AS
SELECT partner_id, toDate(event_time) AS day, 'shipment_status' AS stream, schema_version,
       uniqExactState(event_id) AS records
FROM shipment_status GROUP BY partner_id, day, schema_version;

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_schema_daily_positions_mv TO kpi_schema_daily AS
SELECT partner_id, toDate(event_time) AS day, 'vehicle_positions' AS stream, schema_version,
       uniqExactState(event_id) AS records
FROM vehicle_positions GROUP BY partner_id, day, schema_version;

CREATE MATERIALIZED VIEW IF NOT EXISTS kpi_schema_daily_offers_mv TO kpi_schema_daily AS
SELECT partner_id, toDate(event_time) AS day, 'capacity_offers' AS stream, schema_version,
       uniqExactState(event_id) AS records
FROM capacity_offers GROUP BY partner_id, day, schema_version;
