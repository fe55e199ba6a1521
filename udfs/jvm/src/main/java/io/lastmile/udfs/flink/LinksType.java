package io.lastmile.udfs.flink;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.types.StringValue;

import io.lastmile.udfs.core.Consolidation.Change;
import io.lastmile.udfs.core.Consolidation.Link;
import io.lastmile.udfs.core.Consolidation.Member;
import io.lastmile.udfs.core.Consolidation.Unlink;

/**
 * The type of the {@link Matcher.Links} the Matcher sends the Consolidator, with a serializer of
 * its own: Flink would hand the records in them to Kryo, whose reflective record serializer took
 * most of the Consolidator's reading of its input (BENCHMARKS.md). Between the two tasks only:
 * the Consolidator keeps pending changes in its state with the serializer it always had.
 */
public final class LinksType extends TypeInformation<Matcher.Links> {
    private static final long serialVersionUID = 1L;
    private static final byte LINK = 0;
    private static final byte UNLINK = 1;

    @Override
    public boolean isBasicType() {
        return false;
    }

    @Override
    public boolean isTupleType() {
        return false;
    }

    @Override
    public int getArity() {
        return 1;
    }

    @Override
    public int getTotalFields() {
        return 1;
    }

    @Override
    public Class<Matcher.Links> getTypeClass() {
        return Matcher.Links.class;
    }

    @Override
    public boolean isKeyType() {
        return false;
    }

    @Override
    public TypeSerializer<Matcher.Links> createSerializer(SerializerConfig config) {
        return Serializer.INSTANCE;
    }

    @Override
    public String toString() {
        return "LinksType";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LinksType;
    }

    @Override
    public int hashCode() {
        return LinksType.class.hashCode();
    }

    @Override
    public boolean canEqual(Object o) {
        return o instanceof LinksType;
    }

    /** A neighbourhood, the number of changes, then each: a tag and its fields in order. */
    public static final class Serializer extends TypeSerializerSingleton<Matcher.Links> {
        private static final long serialVersionUID = 1L;
        public static final Serializer INSTANCE = new Serializer();

        @Override
        public boolean isImmutableType() {
            return false;
        }

        @Override
        public Matcher.Links createInstance() {
            return new Matcher.Links(0, List.of());
        }

        @Override
        public Matcher.Links copy(Matcher.Links from) {
            return new Matcher.Links(from.neighbourhood(), new ArrayList<>(from.changes())); // changes are immutable
        }

        @Override
        public Matcher.Links copy(Matcher.Links from, Matcher.Links reuse) {
            return copy(from);
        }

        @Override
        public int getLength() {
            return -1;
        }

        @Override
        public void serialize(Matcher.Links links, DataOutputView out) throws IOException {
            out.writeLong(links.neighbourhood());
            out.writeInt(links.changes().size());
            for (Change change : links.changes()) {
                out.writeLong(change.neighbourhood());
                if (change instanceof Link link) {
                    out.writeByte(LINK);
                    writeMember(link.a(), out);
                    writeMember(link.b(), out);
                } else {
                    Unlink unlink = (Unlink) change;
                    out.writeByte(UNLINK);
                    StringValue.writeString(unlink.keyA(), out);
                    StringValue.writeString(unlink.keyB(), out);
                }
            }
        }

        @Override
        public Matcher.Links deserialize(DataInputView in) throws IOException {
            long neighbourhood = in.readLong();
            int n = in.readInt();
            List<Change> changes = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                long of = in.readLong();
                byte tag = in.readByte();
                if (tag == LINK) {
                    changes.add(new Link(of, readMember(in), readMember(in)));
                } else if (tag == UNLINK) {
                    changes.add(new Unlink(of, StringValue.readString(in), StringValue.readString(in)));
                } else {
                    throw new IOException("unknown change tag " + tag);
                }
            }
            return new Matcher.Links(neighbourhood, changes);
        }

        @Override
        public Matcher.Links deserialize(Matcher.Links reuse, DataInputView in) throws IOException {
            return deserialize(in);
        }

        @Override
        public void copy(DataInputView in, DataOutputView out) throws IOException {
            serialize(deserialize(in), out);
        }

        private static void writeMember(Member m, DataOutputView out) throws IOException {
            StringValue.writeString(m.partnerId(), out);
            StringValue.writeString(m.shipmentId(), out);
            out.writeDouble(m.lat());
            out.writeDouble(m.lng());
            out.writeLong(m.windowStart());
            out.writeLong(m.windowEnd());
            out.writeDouble(m.volumeL());
        }

        private static Member readMember(DataInputView in) throws IOException {
            return new Member(StringValue.readString(in), StringValue.readString(in), in.readDouble(), in.readDouble(),
                    in.readLong(), in.readLong(), in.readDouble());
        }

        @Override
        public TypeSerializerSnapshot<Matcher.Links> snapshotConfiguration() {
            return new Snapshot();
        }
    }

    /** The serializer has no configuration: its snapshot restores the one instance. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<Matcher.Links> {
        public Snapshot() {
            super(() -> Serializer.INSTANCE);
        }
    }
}
