package io.lastmile.udfs.check;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledFuture;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.SinkWriter;

import io.lastmile.udfs.sinks.ClickHouseSink;

/** When {@link ClickHouseSink}'s writer posts what it buffered, on a clock the test moves, to a
 * local HTTP server that answers like ClickHouse: for tests/unit/test_jvm_sinks.py. */
public final class SinksOps implements Harness.Ops {
    @Override
    public Object call(String op, JsonNode args) throws Exception {
        if (!op.equals("posts")) {
            throw new IllegalArgumentException("unknown op " + op);
        }
        return posts(args);
    }

    /**
     * {"interval_ms", "max_bytes", "steps": [["write", at, row bytes] | ["flush", at] | ["time", at], ...]}
     * -> the posts, in order: {"at": the clock then, "bytes": their size}. A step first moves the
     * clock to {@code at}, firing the writer's timers due on the way, each at its own time.
     */
    private static List<Map<String, Long>> posts(JsonNode args) throws Exception {
        Clock clock = new Clock();
        List<Map<String, Long>> posts = new CopyOnWriteArrayList<>(); // added by the server's thread
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            try (InputStream body = exchange.getRequestBody()) {
                posts.add(Map.of("at", clock.now, "bytes", (long) body.readAllBytes().length));
            }
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
        });
        server.start();
        try {
            SinkWriter<byte[]> writer = ClickHouseSink.frames("http://127.0.0.1:" + server.getAddress().getPort(),
                    "default", "", args.get("max_bytes").asLong(), args.get("interval_ms").asLong(), 1_000)
                    .createWriter(clock);
            for (JsonNode step : args.get("steps")) {
                clock.advance(step.get(1).asLong());
                switch (step.get(0).asText()) {
                    case "write" -> writer.write(frame(step.get(2).asInt()), null);
                    case "flush" -> writer.flush(false);
                    case "time" -> { }
                    default -> throw new IllegalArgumentException("unknown step " + step);
                }
            }
            return posts;
        } finally {
            server.stop(0);
        }
    }

    /** A ClickHouse frame (udfs/sinks/frames.py) of {@code rowBytes} bytes of rows. */
    private static byte[] frame(int rowBytes) {
        byte[] query = "INSERT INTO t FORMAT RowBinary".getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(4 + query.length + rowBytes).putInt(query.length).put(query).array();
    }

    /** Processing time as the test moves it; timers fire in time order, each at its own time. */
    private static final class Clock implements ProcessingTimeService {
        private record Timer(long at, long seq, ProcessingTimeCallback callback) {
        }

        private final PriorityQueue<Timer> timers = new PriorityQueue<>(
                (a, b) -> a.at != b.at ? Long.compare(a.at, b.at) : Long.compare(a.seq, b.seq));
        private volatile long now;
        private long seq;

        @Override
        public long getCurrentProcessingTime() {
            return now;
        }

        @Override
        public ScheduledFuture<?> registerTimer(long at, ProcessingTimeCallback callback) {
            timers.add(new Timer(at, seq++, callback));
            return null; // the writer keeps no handle on its timers
        }

        void advance(long to) throws IOException {
            while (!timers.isEmpty() && timers.peek().at <= to) {
                Timer timer = timers.poll();
                now = timer.at;
                try {
                    timer.callback.onProcessingTime(timer.at);
                } catch (Exception e) {
                    throw new IOException(e);
                }
            }
            now = to;
        }
    }
}
