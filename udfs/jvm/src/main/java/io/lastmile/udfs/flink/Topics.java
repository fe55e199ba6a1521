package io.lastmile.udfs.flink;

import java.util.regex.Pattern;

/** Kafka topic names of the job's outputs (udfs/contracts/topics.py; tests/unit/test_jvm_outputs.py holds the two equal). */
public final class Topics {
    public static final String COLOCATIONS = "coordination.colocations";
    public static final String PROPOSALS = "coordination.proposals";
    public static final String ETA = "coordination.eta";
    public static final String DEAD_LETTERS = "coordination.dead_letters";
    private static final Pattern PARTNER_ID = Pattern.compile("[a-z0-9][a-z0-9-]{1,31}");

    private Topics() {
    }

    /** {@code partners.<partner_id>.inbox}; a partner id the contract would refuse is an error. */
    public static String inbox(String partnerId) {
        return "partners." + checked(partnerId) + ".inbox";
    }

    /** {@code partners.<partner_id>.dead_letters}: the partner's own refused records. */
    public static String deadLetters(String partnerId) {
        return "partners." + checked(partnerId) + ".dead_letters";
    }

    private static String checked(String partnerId) {
        if (partnerId == null || !PARTNER_ID.matcher(partnerId).matches()) {
            throw new IllegalArgumentException("partner id must match " + PARTNER_ID.pattern() + ", got " + partnerId);
        }
        return partnerId;
    }
}
