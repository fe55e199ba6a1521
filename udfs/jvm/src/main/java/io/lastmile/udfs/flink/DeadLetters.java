package io.lastmile.udfs.flink;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

import io.lastmile.udfs.AvroRecords;

/** Dead letters the JVM stages write (udfs.records.DeadLetter and udfs.flink.coordination.dead_letter_outputs):
 * a row of ClickHouse {@code dead_letters} and a message on {@code coordination.dead_letters}. */
public final class DeadLetters {
    private DeadLetters() {
    }

    /** Deterministic: the same source, stage and reason give the same id (replays collapse). */
    public static String id(String source, String stage, String reason) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest((source + "|" + stage + "|" + reason).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest).substring(0, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static void write(Outputs.Call out, AvroRecords avro, String source, String stage, String reason,
                             String message, byte[] payload, String partnerId, long receivedAt) {
        String id = id(source, stage, reason);
        out.row("dead_letters", id, receivedAt, source, partnerId, stage, reason, message, payload);
        out.message(id, avro.encode("DeadLetter", id, receivedAt, source, partnerId, stage, reason, message, payload),
                Topics.DEAD_LETTERS);
    }
}
