package io.lastmile.udfs.sinks;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
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
 * Writes ClickHouse frames (udfs/sinks/frames.py: an INSERT ... FORMAT RowBinary query and
 * its rows) over ClickHouse's HTTP interface.
 *
 * <p>Frames are buffered per query and posted when the buffer passes {@code maxBytes}, when
 * its oldest frame is {@code flushIntervalMs} old, and on every {@link #flush} (Flink calls
 * it before a checkpoint barrier passes and at the end of input). So a completed checkpoint
 * means every row before it is in ClickHouse: at least once, and the tables are
 * ReplacingMergeTrees keyed by deterministic ids, so a replay after a failure collapses.
 * An insert that still fails after {@code maxRetries} retries fails the task; Flink restarts
 * it from the last checkpoint instead of dropping rows.
 */
public final class ClickHouseSink implements Sink<byte[]> {
    private static final long serialVersionUID = 1L;

    private final String url;
    private final String user;
    private final String password;
    private final long maxBytes;
    private final long flushIntervalMs;
    private final int maxRetries;

    public ClickHouseSink(String url, String user, String password, long maxBytes, long flushIntervalMs,
                          int maxRetries) {
        this.url = url.endsWith("/") ? url : url + "/";
        this.user = user;
        this.password = password;
        this.maxBytes = maxBytes;
        this.flushIntervalMs = flushIntervalMs;
        this.maxRetries = maxRetries;
    }

    @Override
    public SinkWriter<byte[]> createWriter(WriterInitContext context) {
        return new Writer(context.getProcessingTimeService());
    }

    /** The query of a frame and where its rows start. */
    static String query(byte[] frame) {
        int n = ByteBuffer.wrap(frame).getInt();
        return new String(frame, 4, n, StandardCharsets.UTF_8);
    }

    private final class Writer implements SinkWriter<byte[]> {
        private final ProcessingTimeService time;
        private final Map<String, ByteArrayOutputStream> buffers = new LinkedHashMap<>();
        private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        private long buffered;
        private long oldest = -1;

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
        public void write(byte[] frame, Context context) throws IOException, InterruptedException {
            int n = ByteBuffer.wrap(frame).getInt();
            String query = new String(frame, 4, n, StandardCharsets.UTF_8);
            if (frame.length == 4 + n) {
                return; // no rows
            }
            buffers.computeIfAbsent(query, q -> new ByteArrayOutputStream(1 << 16))
                    .write(frame, 4 + n, frame.length - 4 - n);
            buffered += frame.length - 4 - n;
            if (oldest < 0) {
                oldest = time.getCurrentProcessingTime();
            }
            if (buffered >= maxBytes) {
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
            buffered = 0;
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
