-- Refused records, shared without their contents: each dead letter's payload is digested
-- (SHA-256 of the bytes kept, written with the row; '' for rows written before), and dead_letters_summary
-- shows every dead letter by reason, stage, partner and digest, with no message and no payload.
-- The analysts read that view (and those columns of dead_letters); a partner reads its own rows
-- of dead_letters whole (docs/security.md).

ALTER TABLE dead_letters
    ADD COLUMN IF NOT EXISTS payload_sha256 String DEFAULT ''
        COMMENT 'SHA-256 (hex) of the payload kept: the same refused bytes give the same digest';

CREATE VIEW IF NOT EXISTS dead_letters_summary AS
SELECT dead_letter_id, received_at, source, partner_id, stage, reason, payload_sha256
FROM dead_letters FINAL;
