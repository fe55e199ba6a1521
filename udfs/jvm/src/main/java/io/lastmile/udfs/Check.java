package io.lastmile.udfs;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * For the agreement tests (tests/unit/test_jvm_contract.py): reads lines
 * {@code <hex payload> <topic> <now ms>} and prints, per line, what the functions return
 * ({@code refused} or the row's fields, tab-separated), so the JVM side can be held against the
 * Python reference on thousands of records without starting Flink.
 */
public final class Check {
    public static void main(String[] args) throws Exception {
        Contract.Reader reader = Contract.INSTANCE.new Reader();
        com.uber.h3core.H3Core h3 = com.uber.h3core.H3Core.newInstance();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String line; (line = in.readLine()) != null; ) {
            String[] parts = line.split(" ");
            byte[] payload = HexFormat.of().parseHex(parts[0]);
            String name = parts[2];
            org.apache.avro.generic.GenericRecord r = reader.accept(payload, parts[1], name, Long.parseLong(parts[3]));
            if (r == null) {
                out.append("refused\n");
                continue;
            }
            out.append("accepted");
            for (org.apache.avro.Schema.Field f : Contract.INSTANCE.latest.get(name).getFields()) {
                Object v = Contract.field(r, f.name());
                out.append('\t').append(f.name()).append('=').append(v == null ? "None" : v.toString());
            }
            if (name.equals("VehiclePosition")) {
                out.append("\th3_cell=").append(h3.latLngToCell((Double) r.get("lat"), (Double) r.get("lng"),
                        ContractFunction.SHARED_RESOLUTION));
            }
            out.append('\n');
        }
        System.out.print(out);
    }
}
