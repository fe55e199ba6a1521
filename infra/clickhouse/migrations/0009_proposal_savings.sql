-- What each consolidation proposal saves on the routes the partners actually drove (the
-- marginal kilometres: udfs/savings.py, docs/kpis.md), written by `lastmile report` (and
-- `lastmile savings`) once every stop of the proposal's group is final or its day is over:
-- the other partners' vans without the group's stops, the carrier's van with them inserted.
-- One row per proposal; `status` says why a proposal could not be evaluated (a van's route
-- not known). Routes are built from H3 cells of resolution 10 except for the group's own
-- stops, so a figure is good to ~100 m per neighbouring stop.

CREATE TABLE IF NOT EXISTS proposal_savings
(
    proposal_id          String,
    created_at           DateTime64(3, 'UTC') COMMENT 'of the proposal',
    partners             Array(LowCardinality(String)),
    assigned_partner     LowCardinality(String),
    receiving_vehicle    Nullable(String) COMMENT 'the carrier van the other partners stops go to',
    status               LowCardinality(String) COMMENT 'evaluated, or why not: route_unknown, carrier_route_unknown',
    km_removed           Nullable(Float64) COMMENT 'what the other partners vans no longer drive',
    km_inserted          Nullable(Float64) COMMENT 'what the carrier van drives more (cheapest insertion)',
    km_saved             Nullable(Float64) COMMENT 'km_removed - km_inserted',
    km_saved_by_partner  Map(String, Float64) COMMENT 'km each partner drives less (the carrier: negative)',
    km_saved_upper_bound Float64 COMMENT 'the proposal''s own km_saved (depot-to-group trips)',
    computed_at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY proposal_id;
