package io.lastmile.udfs.check;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The agreement tests' entry point into the JVM logic (tests/jvm_harness.py), no Flink: reads
 * one JSON request per line, {@code {"area": A, "op": O, "args": ...}}, and writes one JSON line
 * per request: {@code {"ok": result}} or {@code {"error": text}}. The area names a class
 * {@code io.lastmile.udfs.check.<A>Ops} implementing {@link Ops}, made once and kept, so a
 * test can drive stateful logic over many requests.
 */
public final class Harness {
    /** The operations of one area of the logic. */
    public interface Ops {
        Object call(String op, JsonNode args) throws Exception;
    }

    public static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] argv) throws Exception {
        Map<String, Ops> areas = new HashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
        for (String line; (line = in.readLine()) != null; ) {
            Map<String, Object> reply = new HashMap<>();
            try {
                JsonNode request = JSON.readTree(line);
                String area = request.get("area").asText();
                Ops ops = areas.get(area);
                if (ops == null) {
                    ops = (Ops) Class.forName("io.lastmile.udfs.check." + area + "Ops").getDeclaredConstructor()
                            .newInstance();
                    areas.put(area, ops);
                }
                reply.put("ok", ops.call(request.get("op").asText(), request.get("args")));
            } catch (Exception e) {
                reply.put("error", e.toString());
            }
            out.write(JSON.writeValueAsString(reply));
            out.write('\n');
            if (!in.ready()) {
                out.flush();
            }
        }
        out.flush();
    }
}
