package io.lastmile.udfs.core;

import java.util.Comparator;

/** Text as Python compares it: by Unicode code point ({@link String#compareTo} compares UTF-16
 * units, which orders characters outside the BMP differently). */
public final class Text {
    public static final Comparator<String> CODE_POINT_ORDER = Text::compare;

    private Text() {
    }

    public static int compare(String a, String b) {
        int i = 0, j = 0;
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
