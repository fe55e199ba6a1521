package io.lastmile.udfs.check;

import com.fasterxml.jackson.databind.JsonNode;

import io.lastmile.udfs.core.Geo;

/** {@code haversine [lat1, lng1, lat2, lng2]} -> metres (core.Geo). */
public final class GeoOps implements Harness.Ops {
    @Override
    public Object call(String op, JsonNode args) {
        if (op.equals("haversine")) {
            return Geo.haversineM(args.get(0).asDouble(), args.get(1).asDouble(), args.get(2).asDouble(),
                    args.get(3).asDouble());
        }
        throw new IllegalArgumentException("unknown op " + op);
    }
}
