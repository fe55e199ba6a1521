package io.lastmile.udfs.sinks;

import java.io.IOException;
import java.io.Serializable;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

import io.lastmile.udfs.core.Bytes;

/**
 * Writes rows to ClickHouse over its HTTP interface, as {@code INSERT ... FORMAT RowBinary}.
 *
 * <p>An {@link Encoder} turns each element into the query it belongs to and its RowBinary
 * bytes: {@link #frames} takes the Python stages' frames (udfs/sinks/frames.py), and
 * {@code flink.Outputs#rows} the partner rows the decoding writes ({@link RowBinaryValues}).
 * Bytes are buffered per query and posted when the buffer passes {@code maxBytes}, when its
 * oldest row is {@code flushIntervalMs} old, and on every {@link SinkWriter#flush} (Flink calls
 * it before a checkpoint barrier passes and at the end of input). So a completed checkpoint
 * means every row before it is in ClickHouse: at least once, and the tables are
 * ReplacingMergeTrees keyed by deterministic ids, so a replay after a failure collapses. A
 * failed insert (ClickHouse unreachable, a 5xx or 429 answer) is retried with exponential
 * backoff (200 ms doubling to 5 s, plus up to half of it as jitter) for up to {@code retryForMs}:
 * meanwhile the writer blocks, which back-pressures the job, and a ClickHouse that comes back
 * within that time loses and doubles nothing. After it the task fails and Flink restarts it from
 * the last checkpoint instead of dropping rows. A 4xx answer (a bad query or bad rows) fails at once.
 */
public final class ClickHouseSink<T> implements Sink<T> {
    private static final long serialVersionUID = 1L;

    /** What one element adds: the query it belongs to and its rows' bytes. */
    public interface Encoder<T> extends Serializable {
        String query(T element);

        void encode(T element, Bytes out) throws IOException;
    }

    private final String url;
    private final String user;
    private final String password;
    private final long maxBytes;
    private final long flushIntervalMs;
    private final long retryForMs;
    private final Encoder<T> encoder;

    public ClickHouseSink(String url, String user, String password, long maxBytes, long flushIntervalMs,
                          long retryForMs, Encoder<T> encoder) {
        this.url = url.endsWith("/") ? url : url + "/";
        this.user = user;
        this.password = password;
        this.maxBytes = maxBytes;
        this.flushIntervalMs = flushIntervalMs;
        this.retryForMs = retryForMs;
        this.encoder = encoder;
    }

    /** The sink of ClickHouse frames: a u32 query length, the query, then RowBinary rows. */
    public static ClickHouseSink<byte[]> frames(String url, String user, String password, long maxBytes,
                                                long flushIntervalMs, long retryForMs) {
        return new ClickHouseSink<>(url, user, password, maxBytes, flushIntervalMs, retryForMs, new Frames());
    }

    static final class Frames implements Encoder<byte[]> {
        private static final long serialVersionUID = 1L;

        @Override
        public String query(byte[] frame) {
            return new String(frame, 4, ByteBuffer.wrap(frame).getInt(), StandardCharsets.UTF_8);
        }

        @Override
        public void encode(byte[] frame, Bytes out) {
            int start = 4 + ByteBuffer.wrap(frame).getInt();
            out.write(frame, start, frame.length - start);
        }
    }

    @Override
    public SinkWriter<T> createWriter(WriterInitContext context) {
        return createWriter(context.getProcessingTimeService());
    }

    /** A writer on the given clock and timers: the job's (above), or a test's. */
    public SinkWriter<T> createWriter(ProcessingTimeService time) {
        return new Writer(time);
    }

    /**
     * When the writer looks at its buffers next, at {@code now}: when the oldest buffered row
     * (buffered at {@code oldest}, or -1 for none) turns {@code intervalMs} old, or an interval
     * from now when nothing is buffered. Looking only every interval would let a row that
     * arrived just after a look wait almost two intervals.
     */
    static long nextCheck(long now, long oldest, long intervalMs) {
        return oldest < 0 ? now + intervalMs : Math.max(now + 1, oldest + intervalMs);
    }

    private final class Writer implements SinkWriter<T> {
        private final ProcessingTimeService time;
        private final Map<String, Bytes> buffers = new LinkedHashMap<>();
        private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        private long oldest = -1;
        private String lastQuery;
        private Bytes lastBuffer;

        Writer(ProcessingTimeService time) {
            this.time = time;
            schedule(time.getCurrentProcessingTime() + flushIntervalMs);
        }

        private void schedule(long at) {
            time.registerTimer(at, now -> {
                if (oldest >= 0 && now - oldest >= flushIntervalMs) {
                    flushAll();
                }
                schedule(nextCheck(now, oldest, flushIntervalMs));
            });
        }

        @Override
        public void write(T element, Context context) throws IOException, InterruptedException {
            String query = encoder.query(element);
            if (!query.equals(lastQuery)) {
                lastQuery = query;
                lastBuffer = buffers.computeIfAbsent(query, q -> new Bytes(1 << 16));
            }
            encoder.encode(element, lastBuffer);
            if (oldest < 0) {
                oldest = time.getCurrentProcessingTime();
            }
            if (lastBuffer.size() >= maxBytes) {
                flushAll();
            }
        }

        @Override
        public void flush(boolean endOfInput) throws IOException, InterruptedException {
            flushAll();
        }

        private void flushAll() throws IOException, InterruptedException {
            for (Map.Entry<String, Bytes> e : buffers.entrySet()) {
                if (e.getValue().size() > 0) {
                    post(e.getKey(), e.getValue().toByteArray());
                    e.getValue().reset();
                }
            }
            oldest = -1;
        }

        private void post(String query, byte[] body) throws IOException, InterruptedException {
            HttpRequest request = HttpRequest.newBuilder(
                            // Event tables are partitioned by month of an event time a partner chooses: a
                            // standing plan of capacity offers spans years, and ClickHouse refuses an
                            // insert that touches over 100 partitions by default, at every retry.
                            URI.create(url + "?max_partitions_per_insert_block=0&query="
                                    + URLEncoder.encode(query, StandardCharsets.UTF_8)))
                    .timeout(Duration.ofSeconds(120))
                    .header("X-ClickHouse-User", user)
                    .header("X-ClickHouse-Key", password)
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                    .build();
            String failure = null;
            long deadline = System.currentTimeMillis() + retryForMs;
            long backoff = 200;
            int attempts = 0;
            while (true) {
                attempts++;
                try {
                    HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
                    if (response.statusCode() == 200) {
                        return;
                    }
                    failure = "HTTP " + response.statusCode() + ": " + response.body().strip();
                    if (response.statusCode() >= 400 && response.statusCode() < 500 && response.statusCode() != 429) {
                        break; // a bad query or bad rows: retrying cannot help
                    }
                } catch (IOException e) {
                    failure = e.toString();
                }
                long wait = backoff + ThreadLocalRandom.current().nextLong(backoff / 2 + 1);
                if (System.currentTimeMillis() + wait > deadline) {
                    break;
                }
                Thread.sleep(wait);
                backoff = Math.min(5_000L, backoff * 2);
            }
            throw new IOException("ClickHouse refused " + query.split(" FORMAT ")[0] + " (" + body.length
                    + " bytes) after " + attempts + " attempts: " + failure);
        }

        @Override
        public void close() {
            // Nothing to flush here: close also runs on cancel and failure, when Flink
            // replays from the last checkpoint instead (flush(true) ends a bounded input).
        }
    }
}
