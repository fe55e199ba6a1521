-- What a consolidation proposal asks the assigned carrier to do: the tour (partner_id:shipment_id
-- in visiting order) and the capacity offer it counts on. Nothing wrote consolidation_proposals
-- before this migration.

ALTER TABLE consolidation_proposals
    ADD COLUMN IF NOT EXISTS assigned_offer String COMMENT 'partner_id:vehicle_id (or partner_id:event_id) of the capacity offer used',
    ADD COLUMN IF NOT EXISTS tour Array(String) COMMENT 'partner_id:shipment_id in visiting order of the consolidated tour';
