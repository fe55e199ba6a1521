package io.lastmile.udfs;

import org.apache.avro.generic.GenericRecord;

/**
 * What {@link Contract.Reader#decide} decided for a partner record: what
 * {@code udfs.contracts.intake.from_wire} returns (the record) or raises (a ContractViolation
 * with its stage, reason and message).
 *
 * @param outcome ACCEPTED or REFUSED
 * @param record  ACCEPTED: the record in the current version of its schema, else null
 * @param stage   REFUSED: {@code decode} (the Avro single-object bytes) or {@code validate} (the
 *                rules), else null
 * @param reason  REFUSED: the stable reason code (docs/data-contract.md), else null
 * @param message REFUSED: the reference's human text, else null
 */
public record Decision(Outcome outcome, GenericRecord record, String stage, String reason, String message) {

    public enum Outcome { ACCEPTED, REFUSED }

    public static Decision accepted(GenericRecord record) {
        return new Decision(Outcome.ACCEPTED, record, null, null, null);
    }

    public static Decision refused(String stage, String reason, String message) {
        return new Decision(Outcome.REFUSED, null, stage, reason, message);
    }

    public boolean isAccepted() {
        return outcome == Outcome.ACCEPTED;
    }
}
