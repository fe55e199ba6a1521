package io.lastmile.udfs.core;

import java.util.Comparator;

/** Text as Python compares it: by Unicode code point ({@link String#compareTo} compares UTF-16
 * units, which orders characters outside the BMP differently). */
public final class Text {
    public static final Comparator<String> CODE_POINT_ORDER = Text::compare;

    private Text() {
    }

    public static int compare(String a, String b) {
        int n = Math.min(a.length(), b.length());
        for (int i = 0; i < n; i++) {
            char x = a.charAt(i), y = b.charAt(i);
            if (x != y) {
                if (!Character.isSurrogate(x) && !Character.isSurrogate(y)) {
                    return x - y; // UTF-16 order is code point order here
                }
                // by code point from where the character holding i starts (a high surrogate
                // before i is the same in both and always starts one)
                return byCodePoint(a, b, i > 0 && Character.isHighSurrogate(a.charAt(i - 1)) ? i - 1 : i);
            }
        }
        return a.length() - b.length();
    }

    private static int byCodePoint(String a, String b, int from) {
        int i = from, j = from;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i), cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }
}
