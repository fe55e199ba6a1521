-- Core tables of the `lastmile` database (names fixed in shared/design/domain.md).
--
-- Idempotent writes: every table is a ReplacingMergeTree whose ORDER BY is the
-- record's deterministic identity, so a replay after a failure inserts rows that
-- collapse into one; query with FINAL (or the *_v views in later migrations).
-- Privacy: tables that partners and analysts read hold H3 cells (resolution 10,
-- UInt64), never raw coordinates, and never a recipient_key.

CREATE TABLE IF NOT EXISTS delivery_tasks
(
    event_id         UUID,
    partner_id       LowCardinality(String),
    shipment_id      String,
    event_time       DateTime64(3, 'UTC'),
    ingested_at      DateTime64(3, 'UTC'),
    dest_h3          UInt64 COMMENT 'H3 cell, resolution 10, of the destination',
    window_start     DateTime64(3, 'UTC'),
    window_end       DateTime64(3, 'UTC'),
    parcel_count     UInt32,
    volume_l         Nullable(Float64),
    weight_kg        Nullable(Float64),
    retailer_id      Nullable(String),
    service_level    LowCardinality(Nullable(String)),
    source_topic     LowCardinality(String),
    source_partition Int32,
    source_offset    Int64
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (partner_id, event_id);

CREATE TABLE IF NOT EXISTS shipment_status
(
    event_id         UUID,
    partner_id       LowCardinality(String),
    shipment_id      String,
    event_time       DateTime64(3, 'UTC'),
    ingested_at      DateTime64(3, 'UTC'),
    status           LowCardinality(String),
    vehicle_id       Nullable(String),
    stop_sequence    Nullable(Int32),
    h3_cell          Nullable(UInt64) COMMENT 'H3 cell, resolution 10, where the status was recorded',
    reason           Nullable(String),
    source_topic     LowCardinality(String),
    source_partition Int32,
    source_offset    Int64
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (partner_id, event_id);

CREATE TABLE IF NOT EXISTS vehicle_positions
(
    event_id          UUID,
    partner_id        LowCardinality(String),
    vehicle_id        String,
    event_time        DateTime64(3, 'UTC'),
    ingested_at       DateTime64(3, 'UTC'),
    h3_cell           UInt64 COMMENT 'H3 cell, resolution 10, of the position',
    speed_mps         Nullable(Float64),
    load_volume_l     Nullable(Float64),
    capacity_volume_l Nullable(Float64),
    source_topic      LowCardinality(String),
    source_partition  Int32,
    source_offset     Int64
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (partner_id, event_id);

CREATE TABLE IF NOT EXISTS capacity_offers
(
    event_id         UUID,
    partner_id       LowCardinality(String),
    vehicle_id       Nullable(String),
    event_time       DateTime64(3, 'UTC') COMMENT 'available_from when the record carries no event time',
    ingested_at      DateTime64(3, 'UTC'),
    depot_h3         UInt64 COMMENT 'H3 cell, resolution 10, of the depot',
    available_from   DateTime64(3, 'UTC'),
    available_to     DateTime64(3, 'UTC'),
    spare_volume_l   Float64,
    spare_stops      Int32,
    source_topic     LowCardinality(String),
    source_partition Int32,
    source_offset    Int64
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (partner_id, event_id);

CREATE TABLE IF NOT EXISTS colocations
(
    match_id       String COMMENT 'deterministic: the same pair always gets the same id',
    partner_a      LowCardinality(String),
    shipment_a     String,
    partner_b      LowCardinality(String),
    shipment_b     String,
    h3_cell        UInt64 COMMENT 'H3 cell, resolution 10, of the midpoint of the two destinations',
    distance_m     Float64 COMMENT 'haversine, sphere of radius 6371008.8 m',
    overlap_start  DateTime64(3, 'UTC'),
    overlap_end    DateTime64(3, 'UTC'),
    same_recipient Bool,
    detected_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(overlap_start)
ORDER BY match_id;

CREATE TABLE IF NOT EXISTS eta_predictions
(
    partner_id    LowCardinality(String),
    shipment_id   String,
    vehicle_id    String,
    predicted_at  DateTime64(3, 'UTC') COMMENT 'event time of the position that produced it',
    eta           DateTime64(3, 'UTC'),
    model_version LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(predicted_at)
ORDER BY (partner_id, shipment_id, predicted_at, model_version);

CREATE TABLE IF NOT EXISTS consolidation_proposals
(
    proposal_id      String,
    partners         Array(LowCardinality(String)),
    shipments        Array(String) COMMENT 'partner_id:shipment_id',
    assigned_partner LowCardinality(String),
    km_separate      Float64,
    km_consolidated  Float64,
    km_saved         Float64,
    kernel_version   LowCardinality(String),
    inputs_digest    String,
    created_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY proposal_id;

CREATE TABLE IF NOT EXISTS dead_letters
(
    dead_letter_id String COMMENT 'deterministic from source and stage, so replays collapse',
    received_at    DateTime64(3, 'UTC'),
    source         String COMMENT 'topic/partition/offset, or file:line',
    partner_id     Nullable(String),
    stage          LowCardinality(String),
    reason         LowCardinality(String),
    message        String,
    payload        String COMMENT 'the original bytes, unchanged'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY dead_letter_id;
