package io.lastmile.udfs.sinks;

import java.io.ByteArrayOutputStream;
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

import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

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
 * ReplacingMergeTrees keyed by deterministic ids, so a replay after a failure collapses. An
 * insert that still fails after {@code maxRetries} retries fails the task; Flink restarts it
 * from the last checkpoint instead of dropping rows.
 */
public final class ClickHouseSink<T> implements Sink<T> {
    private static final long serialVersionUID = 1L;

    /** What one element adds: the query it belongs to and its rows' bytes. */
    public interface Encoder<T> extends Serializable {
        String query(T element);

        void encode(T element, ByteArrayOutputStream out) throws IOException;
    }

    private final String url;
    private final String user;
    private final String password;
    private final long maxBytes;
    private final long flushIntervalMs;
    private final int maxRetries;
    private final Encoder<T> encoder;

    public ClickHouseSink(String url, String user, String password, long maxBytes, long flushIntervalMs,
                          int maxRetries, Encoder<T> encoder) {
        this.url = url.endsWith("/") ? url : url + "/";
        this.user = user;
        this.password = password;
        this.maxBytes = maxBytes;
        this.flushIntervalMs = flushIntervalMs;
        this.maxRetries = maxRetries;
        this.encoder = encoder;
    }

    /** The sink of ClickHouse frames: a u32 query length, the query, then RowBinary rows. */
    public static ClickHouseSink<byte[]> frames(String url, String user, String password, long maxBytes,
                                                long flushIntervalMs, int maxRetries) {
        return new ClickHouseSink<>(url, user, password, maxBytes, flushIntervalMs, maxRetries, new Frames());
    }

    static final class Frames implements Encoder<byte[]> {
        private static final long serialVersionUID = 1L;

        @Override
        public String query(byte[] frame) {
            return new String(frame, 4, ByteBuffer.wrap(frame).getInt(), StandardCharsets.UTF_8);
        }

        @Override
        public void encode(byte[] frame, ByteArrayOutputStream out) {
            int start = 4 + ByteBuffer.wrap(frame).getInt();
            out.write(frame, start, frame.length - start);
        }
    }

    @Override
    public SinkWriter<T> createWriter(WriterInitContext context) {
        return new Writer(context.getProcessingTimeService());
    }

    private final class Writer implements SinkWriter<T> {
        private final ProcessingTimeService time;
        private final Map<String, ByteArrayOutputStream> buffers = new LinkedHashMap<>();
        private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        private long oldest = -1;
        private String lastQuery;
        private ByteArrayOutputStream lastBuffer;

        Writer(ProcessingTimeService time) {
            this.time = time;
            schedule();
        }

        private void schedule() {
            time.registerTimer(time.getCurrentProcessingTime() + flushIntervalMs, now -> {
                if (oldest >= 0 && now - oldest >= flushIntervalMs) {
                    flushAll();
                }
                schedule();
            });
        }

        @Override
        public void write(T element, Context context) throws IOException, InterruptedException {
            String query = encoder.query(element);
            if (!query.equals(lastQuery)) {
                lastQuery = query;
                lastBuffer = buffers.computeIfAbsent(query, q -> new ByteArrayOutputStream(1 << 16));
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
            for (Map.Entry<String, ByteArrayOutputStream> e : buffers.entrySet()) {
                if (e.getValue().size() > 0) {
                    post(e.getKey(), e.getValue().toByteArray());
                    e.getValue().reset();
                }
            }
            oldest = -1;
        }

        private void post(String query, byte[] body) throws IOException, InterruptedException {
            HttpRequest request = HttpRequest.newBuilder(
                            URI.create(url + "?query=" + URLEncoder.encode(query, StandardCharsets.UTF_8)))
                    .timeout(Duration.ofSeconds(120))
                    .header("X-ClickHouse-User", user)
                    .header("X-ClickHouse-Key", password)
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                    .build();
            String failure = null;
            for (int attempt = 0; attempt <= maxRetries; attempt++) {
                if (attempt > 0) {
                    Thread.sleep(Math.min(5_000L, 200L << (attempt - 1)));
                }
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
            }
            throw new IOException("ClickHouse refused " + query.split(" FORMAT ")[0] + " (" + body.length
                    + " bytes) after " + (maxRetries + 1) + " attempts: " + failure);
        }

        @Override
        public void close() {
            // Nothing to flush here: close also runs on cancel and failure, when Flink
            // replays from the last checkpoint instead (flush(true) ends a bounded input).
        }
    }
}
