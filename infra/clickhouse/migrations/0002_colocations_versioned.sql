-- Co-locations become versioned: a re-announced task can undo a match, and the
-- current state of a match_id is its highest version (retracted rows vanish from
-- FINAL). Nothing wrote `colocations` before this migration, so it is recreated.

DROP TABLE IF EXISTS colocations;

CREATE TABLE colocations
(
    match_id       String COMMENT 'deterministic: the same pair of shipments always gets the same id',
    partner_a      LowCardinality(String),
    shipment_a     String,
    partner_b      LowCardinality(String),
    shipment_b     String,
    h3_cell        UInt64 COMMENT 'H3 cell, resolution 10, of the midpoint of the two destinations',
    distance_m     Float64 COMMENT 'haversine, sphere of radius 6371008.8 m',
    overlap_start  DateTime64(3, 'UTC'),
    overlap_end    DateTime64(3, 'UTC'),
    same_recipient Bool,
    detected_at    DateTime64(3, 'UTC') COMMENT 'event time of the later of the two announcements',
    version        UInt64 COMMENT 'highest version is the current state of the match',
    retracted      UInt8 COMMENT '1: a re-announcement undid the match (hidden by FINAL)'
)
ENGINE = ReplacingMergeTree(version, retracted)
ORDER BY match_id;

CREATE VIEW IF NOT EXISTS colocations_current AS
SELECT match_id, partner_a, shipment_a, partner_b, shipment_b, h3_cell, distance_m, overlap_start, overlap_end,
       same_recipient, detected_at
FROM colocations FINAL;
