package io.lastmile.udfs.tools;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The state of a completed checkpoint, per operator, read from its {@code _metadata} (lastmile
 * state, tests/e2e/test_state_lifetime.py): for each operator its uid and name, and the bytes of
 * its keyed state (with its timers), of its operator state (broadcast state, source offsets) and
 * of its coordinator (a source's enumerator). Usage: {@code StateCensus <chk-dir>...}; one JSON
 * line per checkpoint.
 */
public final class StateCensus {
    private StateCensus() {
    }

    public static List<Map<String, Object>> of(Path checkpoint) throws IOException {
        CheckpointMetadata metadata;
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(
                new FileInputStream(checkpoint.resolve("_metadata").toFile())))) {
            metadata = Checkpoints.loadCheckpointMetadata(in, StateCensus.class.getClassLoader(), checkpoint.toString());
        }
        List<Map<String, Object>> operators = new ArrayList<>();
        for (OperatorState operator : metadata.getOperatorStates()) {
            long keyed = 0;
            long operatorState = 0;
            for (OperatorSubtaskState subtask : operator.getStates()) {
                keyed += subtask.getManagedKeyedState().getStateSize() + subtask.getRawKeyedState().getStateSize();
                operatorState += subtask.getManagedOperatorState().getStateSize()
                        + subtask.getRawOperatorState().getStateSize();
            }
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("uid", operator.getOperatorUid().orElse(""));
            row.put("name", operator.getOperatorName().orElse(""));
            row.put("id", operator.getOperatorID().toHexString());
            row.put("keyed_bytes", keyed);
            row.put("operator_bytes", operatorState);
            row.put("coordinator_bytes", operator.getCoordinatorState() == null ? 0
                    : operator.getCoordinatorState().getStateSize());
            row.put("total_bytes", operator.getStateSize());
            operators.add(row);
        }
        return operators;
    }

    public static void main(String[] args) throws IOException {
        ObjectMapper json = new ObjectMapper();
        for (String dir : args) {
            System.out.println(json.writeValueAsString(Map.of("checkpoint", dir, "operators", of(Path.of(dir)))));
        }
    }
}
