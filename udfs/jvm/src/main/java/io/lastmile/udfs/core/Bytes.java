package io.lastmile.udfs.core;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.Objects;

/**
 * A growable byte buffer for one thread: {@link ByteArrayOutputStream} without its locks. Every
 * method of ByteArrayOutputStream is {@code synchronized}, and the job writes its ClickHouse rows,
 * Kafka frames and digests' inputs a byte or a number at a time: under the client compiler the
 * lock of each such write was ~9 % of the JVM's samples in a 1M-event run (BENCHMARKS.md,
 * thirteenth round). The methods of ByteArrayOutputStream not overridden here read the same
 * fields, so an instance also goes wherever a ByteArrayOutputStream or an OutputStream does.
 */
public final class Bytes extends ByteArrayOutputStream {

    public Bytes(int capacity) {
        super(capacity);
    }

    private void room(int more) {
        int needed = count + more;
        if (needed - buf.length > 0) {
            if (needed < 0) {
                throw new OutOfMemoryError("a buffer over 2 GiB");
            }
            buf = Arrays.copyOf(buf, Math.max(needed, Math.min(buf.length * 2, Integer.MAX_VALUE - 8)));
        }
    }

    @Override
    public void write(int b) {
        room(1);
        buf[count++] = (byte) b;
    }

    @Override
    public void write(byte[] b, int off, int len) {
        Objects.checkFromIndexSize(off, len, b.length);
        room(len);
        System.arraycopy(b, off, buf, count, len);
        count += len;
    }

    /** The low {@code n} bytes of {@code value}, least significant first. */
    public void littleEndian(long value, int n) {
        room(n);
        for (int i = 0; i < n; i++) {
            buf[count++] = (byte) (value >>> (8 * i));
        }
    }

    /** {@code value}'s 4 bytes, most significant first. */
    public void bigEndian32(int value) {
        room(4);
        buf[count++] = (byte) (value >>> 24);
        buf[count++] = (byte) (value >>> 16);
        buf[count++] = (byte) (value >>> 8);
        buf[count++] = (byte) value;
    }

    @Override
    public void writeTo(OutputStream out) throws java.io.IOException {
        out.write(buf, 0, count);
    }

    /** Appends what {@code other} holds. */
    public void append(Bytes other) {
        write(other.buf, 0, other.count);
    }

    @Override
    public void reset() {
        count = 0;
    }

    @Override
    public byte[] toByteArray() {
        return Arrays.copyOf(buf, count);
    }

    @Override
    public int size() {
        return count;
    }
}
