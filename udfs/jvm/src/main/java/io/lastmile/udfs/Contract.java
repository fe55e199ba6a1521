package io.lastmile.udfs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.util.Utf8;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
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
 * <p>It only <em>accepts</em>: {@link Reader#accept} returns a record when the bytes are a
 * canonical Avro encoding (re-encoding them gives the same bytes, so every conforming reader
 * reads the same values), every string is strict UTF-8, and every rule holds, with checks that
 * are never laxer than the Python ones. Anything else returns null and the record goes to the
 * Python reference ({@code udfs.contracts.intake.from_wire}), which refuses it with its reason
 * or, where this side was merely stricter, accepts it. A test holds the two against each other.
 */
public final class Contract {

    final Map<Long, Writer> byFingerprint = new HashMap<>();
    final Map<String, Schema> latest = new HashMap<>();
    final Map<String, Long> latestFingerprint = new HashMap<>(); // single-object header, little-endian
    final Map<String, JsonNode> defaults = new HashMap<>(); // "Record.field" -> default of the current version
    final Map<String, String[]> rules = new HashMap<>();
    final Map<String, String> recordOfStream = new HashMap<>(); // "delivery_tasks" -> "DeliveryTask"
    final Map<String, Map<String, String[]>> fields = new HashMap<>(); // table name -> record -> field names
    final Pattern uuid, partnerId, recipientKey;
    final Set<String> statuses = new HashSet<>();
    final long minTs, maxTs, maxFutureMs, maxWindowMs;

    static final Set<String> KNOWN_RULES = new HashSet<>(Arrays.asList(
            "invalid_uuid", "invalid_partner_id", "partner_mismatch", "empty_id", "not_finite",
            "incomplete_position", "coordinates_out_of_range", "null_island", "negative_quantity",
            "parcel_count_below_one", "invalid_recipient_key", "unknown_status", "timestamp_out_of_range",
            "window_not_ordered", "window_too_long", "availability_not_ordered", "event_time_in_future"));

    static final Contract INSTANCE = load(); // after KNOWN_RULES: static fields initialise in order

    static final class Writer {
        final String name;
        final Schema schema;

        Writer(String name, Schema schema) {
            this.name = name;
            this.schema = schema;
        }
    }

    private Contract(JsonNode spec) {
        for (JsonNode s : spec.get("schemas")) {
            Schema schema = new Schema.Parser().parse(s.get("schema").toString());
            String name = s.get("name").asText();
            byFingerprint.put(s.get("fingerprint_le").asLong(), new Writer(name, schema));
            if (s.get("latest").asBoolean()) {
                latest.put(name, schema);
                latestFingerprint.put(name, s.get("fingerprint_le").asLong());
                for (JsonNode f : s.get("schema").get("fields")) {
                    if (f.has("default")) {
                        defaults.put(name + "." + f.get("name").asText(), f.get("default"));
                    }
                }
            }
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = spec.get("streams").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            recordOfStream.put(e.getKey(), e.getValue().asText());
        }
        JsonNode r = spec.get("rules");
        for (Iterator<Map.Entry<String, JsonNode>> it = r.get("by_record").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String[] codes = strings(e.getValue());
            for (String code : codes) {
                if (!KNOWN_RULES.contains(code)) {
                    throw new IllegalStateException("rule " + code + " of udfs/contracts/rules.py has no JVM check");
                }
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
        uuid = Pattern.compile(r.get("uuid").asText());
        partnerId = Pattern.compile(r.get("partner_id").asText());
        recipientKey = Pattern.compile(r.get("recipient_key").asText());
        for (JsonNode s : r.get("statuses")) {
            statuses.add(s.asText());
        }
        minTs = r.get("min_ts_ms").asLong();
        maxTs = r.get("max_ts_ms").asLong();
        maxFutureMs = r.get("max_future_ms").asLong();
        maxWindowMs = r.get("max_window_ms").asLong();
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

    /** The partner of a {@code partners.<id>.<stream>} topic, else null (udfs: lastmile.topics.partner_of_topic). */
    String partnerOfTopic(String topic) {
        if (topic == null) {
            return null;
        }
        String[] parts = topic.split("\\.", -1);
        return parts.length == 3 && parts[0].equals("partners") && partnerId.matcher(parts[1]).matches() ? parts[1] : null;
    }

    /** Per-instance decoding buffers (not thread-safe: one per Flink function instance). */
    final class Reader {
        private final Map<Long, GenericDatumReader<GenericRecord>> readers = new HashMap<>();
        private final Map<Long, GenericDatumWriter<GenericRecord>> writers = new HashMap<>();
        private final ByteArrayOutputStream reencoded = new ByteArrayOutputStream(256);
        private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        private BinaryDecoder decoder;
        private BinaryEncoder encoder;
        private GenericRecord reuse;

        /** The record when it decodes canonically and keeps every rule, else null (the Python reference decides). */
        GenericRecord accept(byte[] data, String topic, String recordName, long nowMs) {
            if (data == null || data.length < 10 || (data[0] & 0xff) != 0xC3 || data[1] != 0x01) {
                return null;
            }
            long fingerprint = ByteBuffer.wrap(data, 2, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            Writer writer = byFingerprint.get(fingerprint);
            if (writer == null || !writer.name.equals(recordName)) {
                return null;
            }
            GenericRecord record;
            try {
                decoder = DecoderFactory.get().binaryDecoder(data, 10, data.length - 10, decoder);
                GenericDatumReader<GenericRecord> reader = readers.computeIfAbsent(
                        fingerprint, f -> new GenericDatumReader<>(writer.schema));
                record = reader.read(null, decoder);
                if (!decoder.isEnd() || !canonical(fingerprint, writer, record, data)) {
                    return null;
                }
            } catch (IOException | RuntimeException e) {
                return null; // undecodable here: the reference gives the reason
            }
            return keepsRules(record, writer.schema, recordName, partnerOfTopic(topic), nowMs) ? record : null;
        }

        private boolean canonical(long fingerprint, Writer writer, GenericRecord record, byte[] data) throws IOException {
            reencoded.reset();
            encoder = EncoderFactory.get().directBinaryEncoder(reencoded, encoder);
            writers.computeIfAbsent(fingerprint, f -> new GenericDatumWriter<>(writer.schema)).write(record, encoder);
            encoder.flush();
            int n = reencoded.size();
            if (n != data.length - 10) {
                return false;
            }
            byte[] bytes = reencoded.toByteArray();
            return Arrays.equals(bytes, 0, n, data, 10, data.length);
        }

        private boolean strictUtf8(Utf8 s) {
            try {
                utf8.reset();
                CharBuffer ignored = utf8.decode(ByteBuffer.wrap(s.getBytes(), 0, s.getByteLength()));
                return true;
            } catch (CharacterCodingException e) {
                return false;
            }
        }

        private boolean keepsRules(GenericRecord r, Schema schema, String name, String topicPartner, long nowMs) {
            for (Schema.Field f : schema.getFields()) {
                Object v = r.get(f.pos());
                if (v instanceof Utf8 && !strictUtf8((Utf8) v)) {
                    return false;
                }
                if (v instanceof Double && !Double.isFinite((Double) v)) {
                    return false; // not_finite
                }
                if (v instanceof Float && !Float.isFinite((Float) v)) {
                    return false;
                }
            }
            for (String code : rules.get(name)) {
                if (!keeps(code, r, name, topicPartner, nowMs)) {
                    return false;
                }
            }
            return true;
        }
    }

    static Object field(GenericRecord r, String name) {
        return r.getSchema().getField(name) == null ? null : r.get(name);
    }

    static String text(GenericRecord r, String name) {
        Object v = field(r, name);
        return v == null ? null : v.toString();
    }

    static Double number(GenericRecord r, String name) {
        Object v = field(r, name);
        return v == null ? null : ((Number) v).doubleValue();
    }

    /** At least one printable ASCII character: never blank for Python's str.strip() (stricter is fine). */
    static boolean notBlank(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c >= 0x21 && c <= 0x7e) {
                return true;
            }
        }
        return false;
    }

    private String[] of(String table, String name) {
        String[] names = fields.get(table).get(name);
        return names == null ? new String[0] : names;
    }

    boolean keeps(String code, GenericRecord r, String name, String topicPartner, long nowMs) {
        switch (code) {
            case "invalid_uuid":
                return uuid.matcher(text(r, "event_id")).matches();
            case "invalid_partner_id":
                return partnerId.matcher(text(r, "partner_id")).matches();
            case "partner_mismatch":
                return topicPartner == null || topicPartner.equals(text(r, "partner_id"));
            case "empty_id":
                for (String f : of("ids", name)) {
                    String v = text(r, f);
                    if (v != null && !notBlank(v)) {
                        return false;
                    }
                }
                return true;
            case "not_finite":
                return true; // checked for every field in keepsRules
            case "incomplete_position": {
                String[] p = of("points", name);
                return (field(r, p[0]) == null) == (field(r, p[1]) == null);
            }
            case "coordinates_out_of_range": {
                String[] p = of("points", name);
                Double lat = number(r, p[0]), lng = number(r, p[1]);
                return lat == null || lng == null || (lat >= -90.0 && lat <= 90.0 && lng >= -180.0 && lng <= 180.0);
            }
            case "null_island": {
                String[] p = of("points", name);
                Double lat = number(r, p[0]), lng = number(r, p[1]);
                return !(lat != null && lng != null && lat == 0.0 && lng == 0.0);
            }
            case "negative_quantity":
                for (String f : of("non_negative", name)) {
                    Double v = number(r, f);
                    if (v != null && !(v >= 0)) {
                        return false;
                    }
                }
                return true;
            case "parcel_count_below_one":
                return ((Number) field(r, "parcel_count")).longValue() >= 1;
            case "invalid_recipient_key": {
                String key = text(r, "recipient_key");
                return key == null || recipientKey.matcher(key).matches();
            }
            case "unknown_status":
                return statuses.contains(text(r, "status"));
            case "timestamp_out_of_range":
                for (String f : of("timestamps", name)) {
                    long t = ((Number) field(r, f)).longValue();
                    if (t < minTs || t >= maxTs) {
                        return false;
                    }
                }
                return true;
            case "window_not_ordered":
            case "availability_not_ordered": {
                String[] i = of("intervals", name);
                return ((Number) field(r, i[0])).longValue() < ((Number) field(r, i[1])).longValue();
            }
            case "window_too_long":
                return ((Number) field(r, "window_end")).longValue() - ((Number) field(r, "window_start")).longValue()
                        <= maxWindowMs;
            case "event_time_in_future":
                return ((Number) field(r, "event_time")).longValue() <= nowMs + maxFutureMs;
            default:
                return false;
        }
    }
}
