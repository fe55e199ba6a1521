package io.lastmile.udfs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lastmile.udfs.core.PythonStr;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.util.Utf8;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The data contract on the JVM: Avro single-object decoding and the validation rules.
 *
 * <p>Everything it knows comes from {@code /lastmile/contract.json}, which the build generates
 * from {@code avro_schemas/} and {@code udfs/contracts/rules.py} (the Python reference): the
 * schema of every version with its fingerprint, the rule codes per record in order, and their
 * parameters. A rule code it does not implement fails the load, so the two cannot drift apart
 * silently.
 *
 * <p>Two ways in, one per {@link Reader}:
 * <ul>
 *   <li>{@link Reader#accept}, the fast path every record takes: a record when the bytes are a
 *       canonical Avro encoding (re-encoding them would give the same bytes, so every conforming
 *       reader reads the same values; {@link CanonicalDecoder}), every string is strict UTF-8,
 *       and every rule holds; else null.</li>
 *   <li>{@link Reader#decide}, for what {@code accept} refuses: the outcome of the Python
 *       reference {@code udfs.contracts.intake.from_wire} for any bytes, accepted with the values
 *       fastavro reads (also from non-canonical encodings fastavro takes) or refused with the
 *       reference's stage, reason and message.</li>
 * </ul>
 * Both apply the same rules ({@link #broken}), written with Python's semantics (re.match,
 * str.strip, its number formatting). tests/unit/test_jvm_contract.py holds both against the
 * reference.
 */
public final class Contract {

    final Map<Long, Writer> byFingerprint = new HashMap<>();
    final Map<String, Schema> latest = new HashMap<>();
    final Map<String, Long> latestFingerprint = new HashMap<>(); // single-object header, little-endian
    final Map<String, JsonNode> defaults = new HashMap<>(); // "Record.field" -> default of the current version
    final Map<String, Map<String, JsonNode>> latestDefaults = new HashMap<>(); // record -> field -> default
    final Map<String, String[]> rules = new HashMap<>();
    final Map<String, String> recordOfStream = new HashMap<>(); // "delivery_tasks" -> "DeliveryTask"
    final Map<String, Map<String, String[]>> fields = new HashMap<>(); // table name -> record -> field names
    /** Compiled with UNIX_LINES: {@link #pythonMatch} then gives Python's {@code re.match}. */
    final Pattern uuid, partnerId, recipientKey;
    final Set<String> statuses = new HashSet<>();
    final String statusList; // ", ".join(STATUSES), in their order
    public final long minTs, maxTs, maxFutureMs, maxWindowMs, maxWindowAheadMs;
    /** udfs/contracts/limits.py: a record's bytes, a string's characters, a dead letter's payload. */
    public final int maxRecordBytes, maxStringChars, maxDeadLetterPayload;

    static final Set<String> KNOWN_RULES = new HashSet<>(Arrays.asList(
            "string_too_long", "invalid_uuid", "invalid_partner_id", "partner_mismatch", "empty_id", "not_finite",
            "incomplete_position", "coordinates_out_of_range", "null_island", "negative_quantity",
            "parcel_count_below_one", "invalid_recipient_key", "unknown_status", "timestamp_out_of_range",
            "window_not_ordered", "window_too_long", "window_too_far_ahead", "availability_not_ordered", "event_time_in_future"));

    public static final Contract INSTANCE = load(); // after KNOWN_RULES: static fields initialise in order

    static final class Writer {
        final String name;
        final int version;
        final boolean latest;
        final Schema schema;

        Writer(String name, int version, boolean latest, Schema schema) {
            this.name = name;
            this.version = version;
            this.latest = latest;
            this.schema = schema;
        }
    }

    private final Map<Schema, Integer> versionOfSchema = new java.util.IdentityHashMap<>();

    /** The version of the schema {@code r} was written with (its writer's: what it decoded with). */
    public int writerVersion(org.apache.avro.generic.GenericRecord r) {
        Integer v = versionOfSchema.get(r.getSchema());
        if (v == null) {
            throw new IllegalStateException("a record of no known writer schema: " + r.getSchema().getFullName());
        }
        return v;
    }

    private Contract(JsonNode spec) {
        for (JsonNode s : spec.get("schemas")) {
            Schema schema = new Schema.Parser().parse(s.get("schema").toString());
            String name = s.get("name").asText();
            boolean isLatest = s.get("latest").asBoolean();
            versionOfSchema.put(schema, s.get("version").asInt());
            byFingerprint.put(s.get("fingerprint_le").asLong(), new Writer(name, s.get("version").asInt(), isLatest,
                    schema));
            if (isLatest) {
                latest.put(name, schema);
                latestFingerprint.put(name, s.get("fingerprint_le").asLong());
                Map<String, JsonNode> own = new HashMap<>();
                for (JsonNode f : s.get("schema").get("fields")) {
                    if (f.has("default")) {
                        defaults.put(name + "." + f.get("name").asText(), f.get("default"));
                        own.put(f.get("name").asText(), f.get("default"));
                    }
                }
                latestDefaults.put(name, own);
            }
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = spec.get("streams").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            recordOfStream.put(e.getKey(), e.getValue().asText());
        }
        // decide() reads every version of a partner record as fastavro does: refuse to load a
        // schema its reader does not mirror rather than decide differently from the reference.
        for (Writer w : byFingerprint.values()) {
            if (recordOfStream.containsValue(w.name)) {
                FastavroReader.requireSupported(w.schema, w.latest ? latestDefaults.get(w.name) : Map.of());
            }
        }
        JsonNode r = spec.get("rules");
        for (Iterator<Map.Entry<String, JsonNode>> it = r.get("by_record").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String[] codes = strings(e.getValue());
            for (int i = 0; i < codes.length; i++) {
                if (!KNOWN_RULES.contains(codes[i])) {
                    throw new IllegalStateException("rule " + codes[i] + " of udfs/contracts/rules.py has no JVM check");
                }
                codes[i] = codes[i].intern(); // the rule switch then finds its case by identity
            }
            rules.put(e.getKey(), codes);
        }
        for (String table : new String[]{"ids", "points", "non_negative", "timestamps", "intervals"}) {
            Map<String, String[]> byRecord = new HashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = r.get(table).fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                byRecord.put(e.getKey(), strings(e.getValue()));
            }
            fields.put(table, byRecord);
        }
        uuid = Pattern.compile(r.get("uuid").asText(), Pattern.UNIX_LINES);
        partnerId = Pattern.compile(r.get("partner_id").asText(), Pattern.UNIX_LINES);
        recipientKey = Pattern.compile(r.get("recipient_key").asText(), Pattern.UNIX_LINES);
        String[] statusNames = strings(r.get("statuses"));
        statuses.addAll(Arrays.asList(statusNames));
        statusList = String.join(", ", statusNames);
        minTs = r.get("min_ts_ms").asLong();
        maxTs = r.get("max_ts_ms").asLong();
        maxFutureMs = r.get("max_future_ms").asLong();
        maxWindowMs = r.get("max_window_ms").asLong();
        maxWindowAheadMs = r.get("max_window_ahead_ms").asLong();
        JsonNode limits = spec.get("limits");
        maxRecordBytes = limits.get("max_record_bytes").asInt();
        maxStringChars = limits.get("max_string_chars").asInt();
        maxDeadLetterPayload = limits.get("max_dead_letter_payload").asInt();
    }

    private static String[] strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        for (JsonNode n : array) {
            out.add(n.asText());
        }
        return out.toArray(new String[0]);
    }

    static Contract load() {
        try (InputStream in = Contract.class.getResourceAsStream("/lastmile/contract.json")) {
            if (in == null) {
                throw new IllegalStateException("lastmile/contract.json is missing from the jar (build it with lastmile fetch-jars)");
            }
            return new Contract(new ObjectMapper().readTree(in));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read lastmile/contract.json", e);
        }
    }

    /** A reader of its own (one per operator instance: readers are not thread-safe). */
    public static Reader newReader() {
        return INSTANCE.new Reader();
    }

    /**
     * Python's {@code pattern.match(s)} for the contract's {@code ^...$} patterns, compiled with
     * UNIX_LINES: anchored at the start only, and {@code $} also matches before one final
     * {@code \n}, so {@code "acme\n"} is a partner id there. Java's {@code matches()} would not
     * take it.
     */
    static boolean pythonMatch(Pattern pattern, CharSequence s) {
        return pattern.matcher(s).lookingAt();
    }

    /** The partner of a {@code partners.<id>.<stream>} topic, else null
     * (udfs.contracts.topics.partner_of_topic). */
    String partnerOfTopic(String topic) {
        if (topic == null) {
            return null;
        }
        String partner = remembered(partnersOfTopics, topic, t -> {  // a job reads few topics
            String parsed = parsePartnerOfTopic(t);
            return parsed == null ? "" : parsed;
        });
        return partner.isEmpty() ? null : partner;
    }

    private boolean validPartnerId(String partner) {
        return remembered(partnerIds, partner, p -> pythonMatch(partnerId, p));  // a job sees few ids
    }

    // Answers about the few topics and partner ids every record names, shared by all readers.
    private final Map<String, String> partnersOfTopics = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<String, Boolean> partnerIds = new java.util.concurrent.ConcurrentHashMap<>();

    /** {@code answer(key)}, remembered in {@code memo} while it holds fewer than 100,000 keys
     * (a hostile feed may name ever new ones). */
    private static <V> V remembered(Map<String, V> memo, String key, java.util.function.Function<String, V> answer) {
        V known = memo.get(key);
        if (known != null) {
            return known;
        }
        V value = answer.apply(key);
        if (memo.size() < 100_000) {
            memo.put(key, value);
        }
        return value;
    }

    private String parsePartnerOfTopic(String topic) {
        String[] parts = topic.split("\\.", -1); // as str.split("."): every empty part kept
        return parts.length == 3 && parts[0].equals("partners") && pythonMatch(partnerId, parts[1]) ? parts[1] : null;
    }

    /** Per-instance decoding buffers (not thread-safe: one per Flink function instance). */
    public final class Reader {
        private final Map<Long, CanonicalDecoder> decoders = new HashMap<>();
        private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);

        /**
         * The record (in its writer's schema version) when it decodes canonically and keeps every
         * rule, else null: then {@link #decide} has the reference's answer.
         */
        public GenericRecord accept(byte[] data, String topic, String recordName, long nowMs) {
            if (data == null || data.length > maxRecordBytes || data.length < 10 || (data[0] & 0xff) != 0xC3 || data[1] != 0x01) {
                return null;
            }
            long fingerprint = ByteBuffer.wrap(data, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            Writer writer = byFingerprint.get(fingerprint);
            if (writer == null || !writer.name.equals(recordName)) {
                return null;
            }
            CanonicalDecoder decoder = decoders.get(fingerprint);
            if (decoder == null) {
                decoder = new CanonicalDecoder(writer.schema, utf8);
                decoders.put(fingerprint, decoder);
            }
            GenericRecord record = decoder.read(data, 10); // null: decide() gives the reason
            return record != null && keepsRules(record, recordName, partnerOfTopic(topic), nowMs) ? record : null;
        }

        /**
         * What the Python reference decides for these bytes:
         * {@code udfs.contracts.intake.from_wire(payload, stream, partner_of_topic(topic), nowMs)}
         * where {@code stream} is the one of {@code recordName}.
         *
         * <p>Accepted: the record in the current version of its schema (fields an older writer
         * lacks take their defaults), values as fastavro reads them (see {@link FastavroReader}):
         * strings as Utf8, int fields as Integer (Long for a value outside the int range, which
         * fastavro reads without complaint), long as Long, double as Double. Refused: stage
         * {@code decode} or {@code validate}, the reason code and the reference's message; for
         * {@code undecodable} the message after {@code "<name> v<version>: "} says what went
         * wrong in this reader's words: fastavro's own text cannot be matched (some of it names
         * the memory address of a Python object).
         *
         * <p>Null payload (a Kafka tombstone) is refused as {@code not_single_object}; the
         * reference has no answer for it (bytes(None) raises TypeError).
         *
         * @throws IllegalArgumentException for a record name of no partner stream, as
         *                                  intake.record_name raises ValueError
         */
        public Decision decide(byte[] payload, String topic, String recordName, long nowMs) {
            if (!recordOfStream.containsValue(recordName)) {
                throw new IllegalArgumentException("unknown record " + recordName + "; one of "
                        + String.join(", ", recordOfStream.values()));
            }
            byte[] data = payload == null ? new byte[0] : payload;
            // udfs.contracts.wire.decode
            if (data.length > maxRecordBytes) {
                return Decision.refused("decode", "record_too_large", data.length + " bytes, at most " + maxRecordBytes);
            }
            if (data.length < 10 || (data[0] & 0xff) != 0xC3 || data[1] != 0x01) {
                return Decision.refused("decode", "not_single_object",
                        "missing the Avro single-object header 0xC3 0x01 + fingerprint");
            }
            Writer writer = byFingerprint.get(ByteBuffer.wrap(data, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong());
            if (writer == null) {
                return Decision.refused("decode", "unknown_schema", "no known schema has fingerprint "
                        + HexFormat.of().formatHex(data, 2, 10));
            }
            if (!writer.name.equals(recordName)) {
                return Decision.refused("decode", "wrong_record_type",
                        "a " + writer.name + " where " + recordName + " was expected");
            }
            Schema current = latest.get(recordName);
            FastavroReader body = new FastavroReader(data, 10, utf8);
            Map<String, Object> values;
            try {
                values = body.readRecord(writer.schema, writer.latest ? null : current, latestDefaults.get(recordName));
            } catch (FastavroReader.Undecodable e) {
                return Decision.refused("decode", "undecodable",
                        writer.name + " v" + writer.version + ": " + e.getMessage());
            }
            if (body.position() != data.length) {
                return Decision.refused("decode", "undecodable",
                        (data.length - body.position()) + " bytes after the end of the record");
            }
            for (Schema.Field f : current.getFields()) {
                // fastavro reads an int as any 64-bit varint (FastavroReader boxes such a value as a Long)
                if (values.get(f.name()) instanceof Long n && isInt(f.schema())) {
                    return Decision.refused("decode", "undecodable", writer.name + " v" + writer.version + ": "
                            + f.name() + " is " + n + ", beyond an Avro int's 32 bits");
                }
            }
            GenericData.Record record = new GenericData.Record(current);
            values.forEach(record::put);
            // udfs.contracts.intake.validated: the first rule broken is the reason
            String topicPartner = partnerOfTopic(topic);
            for (String code : rules.get(recordName)) {
                String message = broken(code, record, recordName, topicPartner, nowMs, values.keySet());
                if (message != null) {
                    return Decision.refused("validate", code, message);
                }
            }
            return Decision.accepted(record);
        }

        private static boolean isInt(Schema type) {
            if (type.getType() == Schema.Type.UNION) {
                return type.getTypes().stream().anyMatch(t -> t.getType() == Schema.Type.INT);
            }
            return type.getType() == Schema.Type.INT;
        }

        private boolean keepsRules(GenericRecord r, String name, String topicPartner, long nowMs) {
            for (String code : rules.get(name)) {
                if (broken(code, r, name, topicPartner, nowMs, null) != null) {
                    return false;
                }
            }
            return true;
        }
    }

    static Object field(GenericRecord r, String name) {
        Schema.Field f = r.getSchema().getField(name);  // one lookup: r.get(name) would look again
        return f == null ? null : r.get(f.pos());
    }

    static String text(GenericRecord r, String name) {
        Object v = field(r, name);
        return v == null ? null : v.toString();
    }

    private String[] of(String table, String name) {
        String[] names = fields.get(table).get(name);
        return names == null ? new String[0] : names;
    }

    /**
     * The message of rule {@code code} when record {@code r} breaks it, else null: each case
     * mirrors its function in udfs/contracts/rules.py ({@code _invalid_uuid} for
     * {@code invalid_uuid}, ...) with Python's semantics and the reference's message text,
     * which formats values as Python does (see {@link PythonStr}). Messages are only built for a
     * broken rule, so the fast path pays nothing for them.
     *
     * @param dictOrder the fields in the order of the reference's record dict (the first
     *                  non-finite number in it is named), null for the schema's order
     */
    String broken(String code, GenericRecord r, String name, String topicPartner, long nowMs,
                  Iterable<String> dictOrder) {
        switch (code) {
            case "string_too_long":
                return firstOf(r, dictOrder, this::tooLong);
            case "invalid_uuid": {
                String id = text(r, "event_id");
                return pythonMatch(uuid, id) ? null : "event_id " + PythonStr.repr(PythonStr.head(id, 60))
                        + " is not a UUID";
            }
            case "invalid_partner_id": {
                String partner = text(r, "partner_id");
                return validPartnerId(partner) ? null : "partner_id " + PythonStr.repr(PythonStr.head(partner, 40))
                        + " does not match " + partnerId.pattern();
            }
            case "partner_mismatch": {
                String partner = text(r, "partner_id");
                return topicPartner == null || topicPartner.equals(partner) ? null : "partner_id "
                        + PythonStr.repr(partner) + " published on the topic of " + PythonStr.repr(topicPartner);
            }
            case "empty_id":
                for (String f : of("ids", name)) {
                    String v = text(r, f);
                    if (v != null && PythonStr.isBlank(v)) {
                        return f + " is empty";
                    }
                }
                return null;
            case "not_finite":
                return firstOf(r, dictOrder, Contract::notFinite);
            case "incomplete_position": {
                String[] p = of("points", name);
                return (field(r, p[0]) == null) == (field(r, p[1]) == null) ? null
                        : p[0] + " and " + p[1] + " must be given together";
            }
            case "coordinates_out_of_range": {
                String[] p = of("points", name);
                Object lat = field(r, p[0]), lng = field(r, p[1]);
                if (lat == null || lng == null) {
                    return null;
                }
                double y = ((Number) lat).doubleValue(), x = ((Number) lng).doubleValue();
                return y >= -90.0 && y <= 90.0 && x >= -180.0 && x <= 180.0 ? null
                        : "(" + PythonStr.str(lat) + ", " + PythonStr.str(lng) + ") is outside [-90, 90] x [-180, 180]";
            }
            case "null_island": {
                String[] p = of("points", name);
                Object lat = field(r, p[0]), lng = field(r, p[1]);
                return lat != null && lng != null && ((Number) lat).doubleValue() == 0.0
                        && ((Number) lng).doubleValue() == 0.0 ? "(0, 0) is a missing position, not a destination" : null;
            }
            case "negative_quantity":
                for (String f : of("non_negative", name)) {
                    Object v = field(r, f);
                    if (v != null && ((Number) v).doubleValue() < 0) { // -0.0 < 0 is false, as in Python
                        return f + " is negative (" + PythonStr.str(v) + ")";
                    }
                }
                return null;
            case "parcel_count_below_one": {
                Object count = field(r, "parcel_count");
                return ((Number) count).longValue() >= 1 ? null : "parcel_count is " + PythonStr.str(count);
            }
            case "invalid_recipient_key": {
                String key = text(r, "recipient_key");
                return key == null || pythonMatch(recipientKey, key) ? null
                        : "recipient_key must be 64 lowercase hex characters (HMAC-SHA256 from the partner SDK)";
            }
            case "unknown_status": {
                String status = text(r, "status");
                return statuses.contains(status) ? null : "status " + PythonStr.repr(PythonStr.head(status, 40))
                        + " is not one of " + statusList;
            }
            case "timestamp_out_of_range":
                for (String f : of("timestamps", name)) {
                    long t = ((Number) field(r, f)).longValue();
                    if (t < minTs || t >= maxTs) {
                        return f + "=" + t + " is not between 2000 and 2100 in epoch milliseconds (seconds sent?)";
                    }
                }
                return null;
            case "window_not_ordered":
            case "availability_not_ordered": {
                String[] i = of("intervals", name);
                long start = ((Number) field(r, i[0])).longValue(), end = ((Number) field(r, i[1])).longValue();
                return start < end ? null : i[0] + " (" + start + ") is not before " + i[1] + " (" + end + ")";
            }
            case "window_too_long": {
                long start = ((Number) field(r, "window_start")).longValue();
                long end = ((Number) field(r, "window_end")).longValue();
                return !exceeds(end, start, maxWindowMs) ? null : "the delivery window is "
                        + PythonStr.fixed(trueDivide(difference(end, start), 3_600_000), 1) + " h (at most 24 h)";
            }
            case "window_too_far_ahead": {
                long start = ((Number) field(r, "window_start")).longValue();
                long eventTime = ((Number) field(r, "event_time")).longValue();
                return !exceeds(start, eventTime, maxWindowAheadMs) ? null : "the delivery window starts "
                        + PythonStr.fixed(trueDivide(difference(start, eventTime), 86_400_000), 1)
                        + " days after its announcement (at most " + maxWindowAheadMs / 86_400_000 + " days)";
            }
            case "event_time_in_future": {
                long eventTime = ((Number) field(r, "event_time")).longValue();
                return !exceeds(eventTime, nowMs, maxFutureMs) ? null : "event_time is "
                        + PythonStr.fixed(trueDivide(difference(eventTime, nowMs), 60_000), 1)
                        + " min in the future (at most 5 min)";
            }
            default:
                throw new IllegalStateException("rule " + code + " has no JVM check"); // the load refuses these
        }
    }

    /** The first message {@code check} gives for a field of {@code r}, in the reference's dict
     * order ({@code dictOrder}) or, when null, the schema's. */
    private static String firstOf(GenericRecord r, Iterable<String> dictOrder,
                                  java.util.function.BiFunction<String, Object, String> check) {
        if (dictOrder == null) {
            for (Schema.Field f : r.getSchema().getFields()) {
                String message = check.apply(f.name(), r.get(f.pos()));
                if (message != null) {
                    return message;
                }
            }
            return null;
        }
        for (String f : dictOrder) {
            String message = check.apply(f, r.get(f));
            if (message != null) {
                return message;
            }
        }
        return null;
    }

    /** {@code _string_too_long}'s test of one field: Python's len() of a str counts code points. */
    private String tooLong(String name, Object v) {
        if (!(v instanceof CharSequence s)) {
            return null;
        }
        if (v instanceof Utf8 u ? u.getByteLength() <= maxStringChars : s.length() <= maxStringChars) {
            return null; // no more characters than bytes (UTF-8), nor than UTF-16 units
        }
        String text = s.toString();
        int n = text.codePointCount(0, text.length());
        return n > maxStringChars ? name + " is " + n + " characters long (at most " + maxStringChars + ")" : null;
    }

    private static String notFinite(String name, Object v) {
        return (v instanceof Double || v instanceof Float) && !Double.isFinite(((Number) v).doubleValue())
                ? name + " is " + PythonStr.str(v) : null;
    }

    /**
     * The event timestamp of a record its producer stamped {@code kafkaTs} (flink.KafkaRows): that,
     * but at most {@code max_future_ms} (5 min) ahead of this clock. A partner's valid records are
     * never further ahead (rule {@code event_time_in_future}); a timestamp that is would push its
     * partition's watermark, and once the others are idle everyone's, into the future, and turn
     * the other partners' records into late dead letters. Replays of the past are unaffected.
     */
    public long sourceTimestamp(long kafkaTs, long nowMs) {
        long limit = nowMs + maxFutureMs;
        return kafkaTs > limit ? limit : kafkaTs;
    }

    /** {@code a - b > limit} with Python's ints, which do not overflow (no allocation: the fast
     * path checks every record). */
    static boolean exceeds(long a, long b, long limit) {
        long d = a - b;
        if (((a ^ b) & (a ^ d)) < 0) { // overflowed: the exact difference is beyond the longs
            return a > b;
        }
        return d > limit;
    }

    /** {@code a - b} with Python's ints. */
    static BigInteger difference(long a, long b) {
        return BigInteger.valueOf(a).subtract(BigInteger.valueOf(b));
    }

    /**
     * Python's {@code a / b} of two ints: the exact quotient rounded once to the nearest double
     * (ties to even). Dividing two doubles does that when both ints are exact doubles; otherwise
     * the quotient is taken to 64 bits plus a sticky bit, which BigInteger.doubleValue rounds
     * correctly.
     */
    static double trueDivide(BigInteger a, long b) {
        if (a.bitLength() <= 53 && Math.abs(b) <= 1L << 53) {
            return a.doubleValue() / (double) b;
        }
        BigInteger n = a.abs(), d = BigInteger.valueOf(b).abs();
        int shift = 64 + d.bitLength() - n.bitLength();
        BigInteger[] qr = shift >= 0 ? n.shiftLeft(shift).divideAndRemainder(d) : n.divideAndRemainder(d.shiftLeft(-shift));
        BigInteger q = qr[0].shiftLeft(1).or(qr[1].signum() == 0 ? BigInteger.ZERO : BigInteger.ONE);
        double x = Math.scalb(q.doubleValue(), -shift - 1);
        return a.signum() * Long.signum(b) < 0 ? -x : x;
    }
}
