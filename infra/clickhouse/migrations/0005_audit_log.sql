-- Every automated decision with what it was made from, for `lastmile audit`: one row per
-- consolidation proposal (kind 'proposal'), its kernel's version and inputs exactly as they were
-- digested (canonical JSON: the deliveries, the candidate offers with the room left on them, the
-- partners' depots, the parameters, the time of the decision), so the decision can be replayed
-- and checked against its digest. The inputs hold partners' coordinates: only the pipeline's
-- account reads this table (no partner, not the analysts).

CREATE TABLE IF NOT EXISTS audit_log
(
    decision_id    String COMMENT 'the proposal_id (kind proposal)',
    kind           LowCardinality(String),
    created_at     DateTime64(3, 'UTC') COMMENT 'event time of the decision',
    kernel_version LowCardinality(String),
    inputs_digest  String COMMENT 'SHA-256 (hex) of inputs',
    inputs         String CODEC(ZSTD(3)) COMMENT 'canonical JSON of the inputs, as digested',
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (kind, decision_id);
