package io.lastmile.udfs.flink;

import java.util.Arrays;

import io.lastmile.udfs.AvroRecords;
import io.lastmile.udfs.Contract;
import io.lastmile.udfs.core.Sha256;

/** Dead letters the JVM stages write (udfs.records.DeadLetter and udfs.flink.coordination.dead_letter_outputs):
 * a row of ClickHouse {@code dead_letters} and a message on {@code coordination.dead_letters} and on the
 * partner's own {@code partners.<partner_id>.dead_letters}. */
public final class DeadLetters {
    private DeadLetters() {
    }

    /** Deterministic: the same source, stage and reason give the same id (replays collapse). */
    public static String id(String source, String stage, String reason) {
        return Sha256.hex(source + "|" + stage + "|" + reason).substring(0, 32);
    }

    /** What a dead letter keeps of a refused record. */
    public record Kept(String message, byte[] payload) {
    }

    /** udfs.records.DeadLetter.kept: a payload over the contract's limit is cut to it, and the
     * message says so with the SHA-256 of the whole (a dead letter stays writable whatever a
     * partner sent). */
    public static Kept kept(String message, byte[] payload) {
        int keep = Contract.INSTANCE.maxDeadLetterPayload;
        if (payload == null) { // a Kafka record without a value (a tombstone): nothing to keep
            return new Kept(message, new byte[0]);
        }
        if (payload.length <= keep) {
            return new Kept(message, payload);
        }
        return new Kept(message + " [payload cut to its first " + keep + " of " + payload.length
                + " bytes; sha256 of the whole " + Sha256.hex(payload) + "]", Arrays.copyOf(payload, keep));
    }

    public static void write(Outputs.Call out, AvroRecords avro, String source, String stage, String reason,
                             String message, byte[] payload, String partnerId, long receivedAt) {
        Kept kept = kept(message, payload);
        message = kept.message();
        payload = kept.payload();
        String id = id(source, stage, reason);
        out.row("dead_letters", id, receivedAt, source, partnerId, stage, reason, message, payload, Sha256.hex(payload));
        byte[] value = avro.encode("DeadLetter", id, receivedAt, source, partnerId, stage, reason, message, payload);
        if (partnerId == null) {
            out.message(id, value, Topics.DEAD_LETTERS);
        } else { // also to the partner's own topic: the partner of the topic the record came from
            out.message(id, value, Topics.DEAD_LETTERS, Topics.deadLetters(partnerId));
        }
    }
}
