package io.lastmile.udfs.core;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON text exactly as Python's {@code json.dumps(value, sort_keys=True, separators=(",", ":"))}
 * writes it, so that a digest of it (udfs.consolidation._proposal's inputs digest) is the same
 * on both sides; and Python's {@code repr(float)}, which that text uses for floats.
 *
 * <p>Values: {@link Map} with {@link String} keys (written sorted by code point, as Python sorts
 * str), {@link List} and {@code Object[]} (JSON arrays), {@link String}, {@link Double} and
 * {@link Float} (Python float), the integral boxes (Python int), {@link Boolean} and {@code null}.
 */
public final class PythonJson {
    private PythonJson() {
    }

    /** {@code json.dumps(value, sort_keys=True, separators=(",", ":"))}. */
    public static String dumps(Object value) {
        StringBuilder out = new StringBuilder(256);
        write(out, value);
        return out.toString();
    }

    /** Appends {@link #dumps}'s text of {@code value} to {@code out}. */
    public static void write(StringBuilder out, Object value) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof String s) {
            writeString(out, s);
        } else if (value instanceof Double || value instanceof Float) {
            writeFloat(out, ((Number) value).doubleValue());
        } else if (value instanceof Long || value instanceof Integer || value instanceof Short
                || value instanceof Byte || value instanceof java.math.BigInteger) {
            out.append(value);
        } else if (value instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (value instanceof Map<?, ?> map) {
            List<String> keys = new ArrayList<>(map.size());
            for (Object key : map.keySet()) {
                keys.add((String) key);  // json.dumps would turn other keys into text; none are used
            }
            keys.sort(Text.CODE_POINT_ORDER);
            out.append('{');
            for (int i = 0; i < keys.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                writeString(out, keys.get(i));
                out.append(':');
                write(out, map.get(keys.get(i)));
            }
            out.append('}');
        } else if (value instanceof List<?> list) {
            out.append('[');
            for (int i = 0; i < list.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                write(out, list.get(i));
            }
            out.append(']');
        } else if (value instanceof Object[] array) {
            write(out, List.of(array));
        } else {
            throw new IllegalArgumentException("no JSON form for " + value.getClass());
        }
    }

    /** A JSON float: {@code repr}, except for the non-finite values json.dumps (allow_nan) writes
     * as JavaScript does. */
    public static void writeFloat(StringBuilder out, double x) {
        if (Double.isNaN(x)) {
            out.append("NaN");
        } else if (Double.isInfinite(x)) {
            out.append(x > 0 ? "Infinity" : "-Infinity");
        } else {
            out.append(floatRepr(x));
        }
    }

    /**
     * A str with ensure_ascii: every UTF-16 unit outside printable ASCII as {@code \\uXXXX}
     * (lower-case hex), which writes a character outside the BMP as its surrogate pair, as
     * Python does.
     */
    public static void writeString(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c >= ' ' && c <= '~') {
                        out.append(c);
                    } else {
                        out.append("\\u");
                        String hex = Integer.toHexString(c);
                        for (int pad = hex.length(); pad < 4; pad++) {
                            out.append('0');
                        }
                        out.append(hex);
                    }
                }
            }
        }
        out.append('"');
    }

    /**
     * Python's {@code repr(x)}: the shortest decimal that reads back as {@code x} (the nearest
     * such, ties to an even last digit), positional for decimal exponents -4..15 with at least
     * one digit after the point, otherwise {@code d.ddde+XX}. Java 17's {@link Double#toString}
     * sometimes writes a digit more, or not the nearest shortest, and has its own exponent style.
     */
    private static final ThreadLocal<HashMap<Long, String[]>> SHORTEST = ThreadLocal.withInitial(HashMap::new);

    public static String floatRepr(double x) {
        if (Double.isNaN(x)) {
            return "nan";
        }
        if (Double.isInfinite(x)) {
            return x > 0 ? "inf" : "-inf";
        }
        boolean negative = (Double.doubleToRawLongBits(x) & Long.MIN_VALUE) != 0;
        if (x == 0.0) {
            return negative ? "-0.0" : "0.0";
        }
        double ax = Math.abs(x);
        // value = 0.<digits> x 10^decpt. Double.toString reads back as x; when it has at most 15
        // significant digits and x is normal it is the shortest, and the nearest: decimals of 15
        // digits are then further apart than the reals that read as x, so at most one of them
        // does (not so for subnormals: 4.9E-324 is Java's, 5e-324 Python's).
        String digits;
        int decpt;
        String text = Double.toString(ax);
        int e = text.indexOf('E'), dot = text.indexOf('.');
        int exponent10 = e < 0 ? 0 : Integer.parseInt(text, e + 1, text.length(), 10);
        String all = text.substring(0, dot) + text.substring(dot + 1, e < 0 ? text.length() : e);
        int first = 0, end = all.length();
        while (all.charAt(first) == '0') {
            first++;
        }
        while (all.charAt(end - 1) == '0') {
            end--;
        }
        if (end - first <= 15 && ax >= Double.MIN_NORMAL) {
            digits = all.substring(first, end);
            decpt = dot + exponent10 - first;
        } else {
            // The slow path (16-17 digits: most computed coordinates) is cached: a consolidation
            // digest writes the same deliveries' coordinates again at every decision of their group.
            HashMap<Long, String[]> cache = SHORTEST.get();
            String[] known = cache.get(Double.doubleToRawLongBits(ax));
            if (known == null) {
                BigDecimal shortest = shortestDecimal(ax, end - first);
                String d = shortest.unscaledValue().toString();
                known = new String[]{d, String.valueOf(d.length() - shortest.scale())};
                if (cache.size() >= 1 << 16) {
                    cache.clear();
                }
                cache.put(Double.doubleToRawLongBits(ax), known);
            }
            digits = known[0];
            decpt = Integer.parseInt(known[1]);
        }
        StringBuilder out = new StringBuilder(24);
        if (negative) {
            out.append('-');
        }
        if (decpt <= -4 || decpt > 16) {
            out.append(digits.charAt(0));
            if (digits.length() > 1) {
                out.append('.').append(digits, 1, digits.length());
            }
            int exponent = decpt - 1;
            out.append(exponent < 0 ? "e-" : "e+");
            if (Math.abs(exponent) < 10) {
                out.append('0');
            }
            out.append(Math.abs(exponent));
        } else if (decpt <= 0) {
            out.append("0.");
            for (int i = decpt; i < 0; i++) {
                out.append('0');
            }
            out.append(digits);
        } else if (decpt >= digits.length()) {
            out.append(digits);
            for (int i = digits.length(); i < decpt; i++) {
                out.append('0');
            }
            out.append(".0");
        } else {
            out.append(digits, 0, decpt).append('.').append(digits, decpt, digits.length());
        }
        return out.toString();
    }

    /** The shortest decimal reading back as {@code ax} (finite, > 0), the nearest of them,
     * without trailing zeros; some decimal of {@code digits} significant digits reads back. */
    static BigDecimal shortestDecimal(double ax, int digits) {
        BigDecimal exact = new BigDecimal(ax);
        // A decimal of p digits that reads back can be written with p + 1 digits too: fewer
        // digits are tried until none reads back.
        int p = digits;
        while (p > 1 && readsBack(exact, p - 1, ax)) {
            p--;
        }
        BigDecimal down = exact.round(new MathContext(p, RoundingMode.FLOOR));
        BigDecimal up = exact.round(new MathContext(p, RoundingMode.CEILING));
        boolean downOk = down.doubleValue() == ax, upOk = up.doubleValue() == ax;
        BigDecimal pick;
        if (downOk && upOk && down.compareTo(up) != 0) {
            int nearer = exact.subtract(down).compareTo(up.subtract(exact));
            if (nearer != 0) {
                pick = nearer < 0 ? down : up;
            } else {  // halfway: dtoa's round-half-even on the last digit
                pick = down.unscaledValue().testBit(0) ? up : down;
            }
        } else {
            pick = downOk ? down : up;
        }
        return pick.stripTrailingZeros();
    }

    private static boolean readsBack(BigDecimal exact, int digits, double ax) {
        return exact.round(new MathContext(digits, RoundingMode.FLOOR)).doubleValue() == ax
                || exact.round(new MathContext(digits, RoundingMode.CEILING)).doubleValue() == ax;
    }
}
