package io.lastmile.udfs;

import io.lastmile.udfs.core.PythonJson;
import io.lastmile.udfs.core.PythonStr;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Objects;

/**
 * For the agreement tests (tests/unit/test_jvm_contract.py), so the JVM side can be held
 * against the Python reference on thousands of records without starting Flink. Reads lines on
 * stdin and prints one line per line read (UTF-8), by the mode in {@code args[0]}:
 * <ul>
 *   <li>none: {@code <hex payload> <topic> <record name> <now ms>}, what {@code accept} returns:
 *       {@code refused} or {@code accepted} and the row's fields, tab-separated;</li>
 *   <li>{@code decide}: {@code <hex payload> <hex of the topic's UTF-8> <record name> <now ms>},
 *       the decision: {@code refused<TAB>stage<TAB>reason<TAB>message} or
 *       {@code accepted<TAB>field=<Python repr of the value>...}, then a last column on what
 *       {@code accept} returned for the same input: {@code fast:refused}, {@code fast:same}
 *       (accepted with the decision's values) or {@code fast:DIFFERENT};</li>
 *   <li>{@code python}: the Python formatting helpers, per line {@code repr <hex UTF-8>},
 *       {@code fixed <hex of a double's bits> <digits>}, {@code divide <int> <int>} (a float's
 *       repr) or {@code unicode} (the code points where str.isprintable changes, then after a
 *       tab the str.isspace ones, all in hex and comma-separated);</li>
 *   <li>{@code read}: {@code <hex writer schema> <hex reader schema, or nothing> <hex body>}
 *       (schemas as JSON), what {@link FastavroReader} reads, for schemas beyond the partner
 *       records' (booleans, floats, bytes, removed fields, promotions):
 *       {@code ok<TAB><position><TAB>field=<Python repr>...} (bytes as {@code b:<hex>}) or
 *       {@code error<TAB>message}.</li>
 *   <li>{@code canonical}: {@code <hex payload>} (a single-object header of a known schema, then
 *       anything), {@link CanonicalDecoder} against what it replaced: Avro's
 *       {@code GenericDatumReader}, then the bytes encoded again and compared, every string strict
 *       UTF-8 (and every float finite, where the decoder is stricter on purpose):
 *       {@code same<TAB>accepted}, {@code same<TAB>refused} or {@code DIFFERENT<TAB>what}.</li>
 * </ul>
 */
public final class Check {
    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "accept";
        Contract.Reader reader = Contract.newReader();
        com.uber.h3core.H3Core h3 = mode.equals("accept") ? com.uber.h3core.H3Core.newInstance() : null;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String line; (line = in.readLine()) != null; ) {
            switch (mode) {
                case "accept" -> accept(reader, h3, line, out);
                case "decide" -> decide(reader, line, out);
                case "python" -> python(line, out);
                case "read" -> read(line, out);
                case "canonical" -> canonical(line, out);
                default -> throw new IllegalArgumentException("mode: accept, decide, python, read or canonical");
            }
            out.append('\n');
        }
        PrintStream stdout = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
        stdout.print(out);
        stdout.flush();
    }

    private static void accept(Contract.Reader reader, com.uber.h3core.H3Core h3, String line, StringBuilder out) {
        String[] parts = line.split(" ");
        byte[] payload = HexFormat.of().parseHex(parts[0]);
        String name = parts[2];
        GenericRecord r = reader.accept(payload, parts[1], name, Long.parseLong(parts[3]));
        if (r == null) {
            out.append("refused");
            return;
        }
        out.append("accepted");
        for (Schema.Field f : Contract.INSTANCE.latest.get(name).getFields()) {
            Object v = Contract.field(r, f.name());
            out.append('\t').append(f.name()).append('=').append(v == null ? "None" : v.toString());
        }
        if (name.equals("VehiclePosition")) {
            out.append("\th3_cell=").append(h3.latLngToCell((Double) r.get("lat"), (Double) r.get("lng"),
                    DecodeRecords.SHARED_RESOLUTION));
        }
    }

    private static void decide(Contract.Reader reader, String line, StringBuilder out) {
        String[] parts = line.split(" ", -1);
        byte[] payload = HexFormat.of().parseHex(parts[0]);
        String topic = new String(HexFormat.of().parseHex(parts[1]), StandardCharsets.UTF_8);
        String name = parts[2];
        long now = Long.parseLong(parts[3]);
        Decision d = reader.decide(payload, topic, name, now);
        if (d.isAccepted()) {
            out.append("accepted");
            for (Schema.Field f : d.record().getSchema().getFields()) {
                out.append('\t').append(f.name()).append('=').append(repr(d.record().get(f.pos())));
            }
        } else {
            out.append("refused\t").append(d.stage()).append('\t').append(d.reason()).append('\t').append(d.message());
        }
        GenericRecord fast = reader.accept(payload, topic, name, now);
        out.append("\tfast:").append(fast == null ? "refused" : same(fast, d) ? "same" : "DIFFERENT");
    }

    /** Every field {@code accept} returned has the value {@code decide} gives it. */
    private static boolean same(GenericRecord fast, Decision d) {
        if (!d.isAccepted()) {
            return false;
        }
        for (Schema.Field f : fast.getSchema().getFields()) {
            if (!Objects.equals(fast.get(f.pos()), d.record().get(f.name()))) {
                return false;
            }
        }
        return true;
    }

    private static void canonical(String line, StringBuilder out) {
        byte[] data = HexFormat.of().parseHex(line.strip());
        Contract.Writer writer = Contract.INSTANCE.byFingerprint.get(
                java.nio.ByteBuffer.wrap(data, 2, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong());
        java.nio.charset.CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
        GenericRecord fast = new CanonicalDecoder(writer.schema, utf8).read(data, 10);
        GenericRecord generic = reencoded(writer.schema, data, utf8);
        if (fast == null || generic == null) {
            out.append(fast == generic ? "same\trefused" : "DIFFERENT\tfast " + (fast == null ? "refused" : "accepted"));
            return;
        }
        for (Schema.Field f : writer.schema.getFields()) {
            if (!Objects.equals(fast.get(f.pos()), generic.get(f.pos()))) {
                out.append("DIFFERENT\t").append(f.name()).append(": ").append(fast.get(f.pos())).append(" against ")
                        .append(generic.get(f.pos()));
                return;
            }
        }
        out.append("same\taccepted");
    }

    /** What the fast path did before {@link CanonicalDecoder}: the record when Avro's generic reader
     * reads all the bytes, writing it again gives them back, its text is strict UTF-8 and its
     * floats are finite; else null. */
    private static GenericRecord reencoded(Schema schema, byte[] data, java.nio.charset.CharsetDecoder utf8) {
        try {
            org.apache.avro.io.BinaryDecoder in = org.apache.avro.io.DecoderFactory.get()
                    .binaryDecoder(data, 10, data.length - 10, null);
            GenericRecord r = new org.apache.avro.generic.GenericDatumReader<GenericRecord>(schema).read(null, in);
            if (!in.isEnd()) {
                return null;
            }
            java.io.ByteArrayOutputStream again = new java.io.ByteArrayOutputStream();
            org.apache.avro.io.BinaryEncoder enc = org.apache.avro.io.EncoderFactory.get().directBinaryEncoder(again, null);
            new org.apache.avro.generic.GenericDatumWriter<GenericRecord>(schema).write(r, enc);
            enc.flush();
            if (!java.util.Arrays.equals(again.toByteArray(), 0, again.size(), data, 10, data.length)) {
                return null;
            }
            for (Schema.Field f : schema.getFields()) {
                Object v = r.get(f.pos());
                if (v instanceof org.apache.avro.util.Utf8 u) {
                    utf8.reset();
                    utf8.decode(java.nio.ByteBuffer.wrap(u.getBytes(), 0, u.getByteLength()));
                } else if (v instanceof Double d && !Double.isFinite(d) || v instanceof Float x && !Float.isFinite(x)) {
                    return null;
                }
            }
            return r;
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }

    private static String repr(Object v) {
        return v instanceof CharSequence s ? PythonStr.repr(s) : PythonStr.str(v);
    }

    private static void read(String line, StringBuilder out) throws java.io.IOException {
        String[] parts = line.split(" ", -1);
        String writerJson = new String(HexFormat.of().parseHex(parts[0]), StandardCharsets.UTF_8);
        String readerJson = new String(HexFormat.of().parseHex(parts[1]), StandardCharsets.UTF_8);
        Schema writer = new Schema.Parser().parse(writerJson);
        Schema reader = readerJson.isEmpty() ? null : new Schema.Parser().parse(readerJson);
        java.util.Map<String, com.fasterxml.jackson.databind.JsonNode> defaults = new java.util.HashMap<>();
        if (reader != null) {
            for (com.fasterxml.jackson.databind.JsonNode f : new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(readerJson).get("fields")) {
                if (f.has("default")) {
                    defaults.put(f.get("name").asText(), f.get("default"));
                }
            }
            FastavroReader.requireSupported(reader, defaults);
        }
        FastavroReader.requireSupported(writer, java.util.Map.of());
        if (writer.equals(reader)) {
            reader = null; // schemaless_reader drops a reader schema equal to the writer's
        }
        FastavroReader body = new FastavroReader(HexFormat.of().parseHex(parts[2]), 0,
                StandardCharsets.UTF_8.newDecoder());
        try {
            java.util.Map<String, Object> values = body.readRecord(writer, reader, defaults);
            out.append("ok\t").append(body.position());
            values.forEach((k, v) -> out.append('\t').append(k).append('=').append(v instanceof java.nio.ByteBuffer b
                    ? "b:" + HexFormat.of().formatHex(b.array(), b.arrayOffset() + b.position(), b.arrayOffset() + b.limit())
                    : repr(v)));
        } catch (FastavroReader.Undecodable e) {
            out.append("error\t").append(e.getMessage());
        }
    }

    private static void python(String line, StringBuilder out) {
        String[] parts = line.split(" ", -1);
        switch (parts[0]) {
            case "repr" -> out.append(PythonStr.repr(new String(HexFormat.of().parseHex(parts[1]), StandardCharsets.UTF_8)));
            case "fixed" -> out.append(PythonStr.fixed(Double.longBitsToDouble(Long.parseUnsignedLong(parts[1], 16)),
                    Integer.parseInt(parts[2])));
            case "divide" -> out.append(PythonJson.floatRepr(Contract.trueDivide(new BigInteger(parts[1]),
                    Long.parseLong(parts[2]))));
            case "unicode" -> {
                StringBuilder spaces = new StringBuilder();
                boolean printable = false;
                String sep = "";
                for (int c = 0; c <= Character.MAX_CODE_POINT; c++) {
                    if (PythonStr.isPrintable(c) != printable) {
                        printable = !printable;
                        out.append(sep).append(Integer.toHexString(c));
                        sep = ",";
                    }
                    if (PythonStr.isSpace(c)) {
                        spaces.append(spaces.length() == 0 ? "" : ",").append(Integer.toHexString(c));
                    }
                }
                out.append('\t').append(spaces);
            }
            default -> throw new IllegalArgumentException("python: repr, fixed, divide or unicode");
        }
    }
}
