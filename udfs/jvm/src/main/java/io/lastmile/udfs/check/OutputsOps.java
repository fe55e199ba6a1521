package io.lastmile.udfs.check;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import io.lastmile.udfs.AvroRecords;
import io.lastmile.udfs.core.Bytes;
import io.lastmile.udfs.core.Colocation.Match;
import io.lastmile.udfs.core.Consolidation;
import io.lastmile.udfs.flink.Consolidator;
import io.lastmile.udfs.flink.DeadLetters;
import io.lastmile.udfs.flink.Disclosure;
import io.lastmile.udfs.flink.Matcher;
import io.lastmile.udfs.flink.Topics;
import io.lastmile.udfs.sinks.RowBinaryValues;

/**
 * What the JVM stages write, for tests/unit/test_jvm_outputs.py: {@code rowbinary} (a table's
 * columns and rows -> hex bytes, {@link RowBinaryValues}), {@code avro} (a record name and its
 * values in schema order -> hex single-object bytes, {@link AvroRecords}), {@code topics}.
 * Values in JSON: text, numbers (integers as longs), booleans, lists, null, and bytes as
 * {@code {"hex": "..."}}.
 */
public final class OutputsOps implements Harness.Ops {
    private final AvroRecords avro = new AvroRecords();

    @Override
    public Object call(String op, JsonNode args) {
        switch (op) {
            case "rowbinary": {
                List<String> names = new ArrayList<>(), types = new ArrayList<>();
                for (JsonNode c : args.get("columns")) {
                    names.add(c.get(0).asText());
                    types.add(c.get(1).asText());
                }
                RowBinaryValues encoder = new RowBinaryValues(args.get("table").asText(), names, types);
                Bytes out = new Bytes(256);
                for (JsonNode row : args.get("rows")) {
                    Object[] values = new Object[row.size()];
                    for (int i = 0; i < values.length; i++) {
                        values[i] = value(row.get(i));
                    }
                    encoder.write(values, out);
                }
                return HexFormat.of().formatHex(out.toByteArray());
            }
            case "avro": {
                JsonNode values = args.get("values");
                Object[] fields = new Object[values.size()];
                for (int i = 0; i < fields.length; i++) {
                    fields[i] = value(values.get(i));
                }
                return HexFormat.of().formatHex(avro.encode(args.get("name").asText(), fields));
            }
            case "dead_letter_kept": {  // [message, payload hex] -> [message, payload hex]
                DeadLetters.Kept kept = DeadLetters.kept(args.get(0).asText(),
                        HexFormat.of().parseHex(args.get(1).asText()));
                return List.of(kept.message(), HexFormat.of().formatHex(kept.payload()));
            }
            case "inbox_match": { // {"match": {fields of udfs.colocation.Match}, "a": bool, "key": str, "sharing": str} -> hex
                JsonNode m = args.get("match");
                Match match = new Match(m.get("match_id").asText(), m.get("partner_a").asText(),
                        m.get("shipment_a").asText(), m.get("partner_b").asText(), m.get("shipment_b").asText(),
                        m.get("h3_cell").asLong(), m.get("distance_m").asDouble(), m.get("overlap_start").asLong(),
                        m.get("overlap_end").asLong(), m.get("same_recipient").asBoolean(),
                        m.get("detected_at").asLong(), m.get("version").asLong(), m.get("retracted").asBoolean());
                return HexFormat.of().formatHex(Matcher.inboxMatch(avro, match, args.get("a").asBoolean(),
                        args.get("key").asText(), Matcher.Sharing.parse(args.get("sharing").asText())));
            }
            case "inbox_proposal": { // {"proposal": {fields of udfs.consolidation.Proposal}, "partner", "key", "sharing"} -> hex
                JsonNode p = args.get("proposal");
                List<String> partners = new ArrayList<>();
                p.get("partners").forEach(v -> partners.add(v.asText()));
                List<String> shipments = new ArrayList<>();
                p.get("shipments").forEach(v -> shipments.add(v.asText()));
                Consolidation.Proposal proposal = new Consolidation.Proposal(p.get("proposal_id").asText(), partners,
                        shipments, p.get("assigned_partner").asText(), p.get("km_separate").asDouble(),
                        p.get("km_consolidated").asDouble(), p.get("km_saved").asDouble(),
                        p.get("kernel_version").asText(), p.get("inputs_digest").asText(), p.get("created_at").asLong(),
                        p.get("offer_key").asText(), List.of(), "");
                return HexFormat.of().formatHex(Consolidator.inboxProposal(avro, proposal, args.get("partner").asText(),
                        args.get("key").asText(), Matcher.Sharing.parse(args.get("sharing").asText())));
            }
            case "disclose": { // [[retracted, until], ...] of one key, in order -> [[send, state after], ...]
                List<Object> steps = new ArrayList<>();
                Long state = null;
                for (JsonNode c : args) {
                    Disclosure.Candidate candidate = new Disclosure.Candidate("k", "m", "t", new byte[0],
                            c.get(0).asBoolean(), c.get(1).asLong());
                    steps.add(Arrays.asList(Disclosure.send(state, candidate), Disclosure.after(state, candidate)));
                    state = Disclosure.after(state, candidate);
                }
                return steps;
            }
            case "topics":
                return List.of(Topics.COLOCATIONS, Topics.PROPOSALS, Topics.ETA, Topics.DEAD_LETTERS,
                        Topics.inbox(args.asText()), Topics.deadLetters(args.asText()));
            default:
                throw new IllegalArgumentException("unknown op " + op);
        }
    }

    private static Object value(JsonNode v) {
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isObject()) {
            return HexFormat.of().parseHex(v.get("hex").asText());
        }
        if (v.isArray()) {
            List<Object> list = new ArrayList<>();
            v.forEach(e -> list.add(value(e)));
            return list;
        }
        if (v.isBoolean()) {
            return v.asBoolean();
        }
        if (v.isIntegralNumber()) {
            return v.asLong();
        }
        if (v.isNumber()) {
            return v.asDouble();
        }
        return v.asText();
    }
}
