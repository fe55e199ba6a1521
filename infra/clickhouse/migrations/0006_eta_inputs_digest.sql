-- Every ETA says what it was computed from: the SHA-256 of its van's prediction inputs
-- (udfs.eta.eta_inputs: the model version, the van, its last position, its remaining stops in
-- visiting order, each leg's speed). The inputs themselves stay in the job's state.

ALTER TABLE eta_predictions
    ADD COLUMN IF NOT EXISTS inputs_digest String DEFAULT '' COMMENT 'SHA-256 (hex) of the prediction inputs';
