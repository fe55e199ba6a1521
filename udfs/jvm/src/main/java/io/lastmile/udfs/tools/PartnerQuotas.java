package io.lastmile.udfs.tools;

import java.io.FileInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.flink.kafka.shaded.org.apache.kafka.clients.admin.Admin;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.quota.ClientQuotaFilterComponent;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A partner's Kafka quotas (lastmile partners add / remove, lastmile/partner_admin.py): how many
 * bytes per second its principal may produce and fetch, so that one partner cannot flood the
 * broker or the job for the others. confluent-kafka's Python admin client has no quota calls.
 *
 * <p>Usage: {@code PartnerQuotas <client.properties> set <user> <produce bytes/s> <fetch bytes/s>},
 * {@code ... remove <user>}, {@code ... describe <user>} (one JSON line: the quotas in force).
 */
public final class PartnerQuotas {
    private static final String PRODUCE = "producer_byte_rate";
    private static final String FETCH = "consumer_byte_rate";

    private PartnerQuotas() {
    }

    public static void main(String[] args) throws IOException, InterruptedException, ExecutionException,
            TimeoutException {
        Properties props = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            props.load(in);
        }
        String action = args[1];
        ClientQuotaEntity user = new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, args[2]));
        try (Admin admin = Admin.create(props)) {
            if (action.equals("describe")) {
                Map<String, Double> quotas = new TreeMap<>();
                admin.describeClientQuotas(ClientQuotaFilter.containsOnly(
                        List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, args[2]))))
                        .entities().get(30, TimeUnit.SECONDS).values().forEach(quotas::putAll);
                System.out.println(new ObjectMapper().writeValueAsString(quotas));
                return;
            }
            List<ClientQuotaAlteration.Op> ops = new ArrayList<>();
            boolean set = action.equals("set");
            if (!set && !action.equals("remove")) {
                throw new IllegalArgumentException("unknown action " + action);
            }
            ops.add(new ClientQuotaAlteration.Op(PRODUCE, set ? Double.valueOf(args[3]) : null));
            ops.add(new ClientQuotaAlteration.Op(FETCH, set ? Double.valueOf(args[4]) : null));
            admin.alterClientQuotas(List.of(new ClientQuotaAlteration(user, ops))).all().get(30, TimeUnit.SECONDS);
        }
    }
}
