package logctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

// TestContextAttrsReachEveryLine: lines logged with a context carrying a request id
// carry it, through loggers derived with With, and lines without one do not.
func TestContextAttrsReachEveryLine(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(slog.New(slog.NewJSONHandler(&buf, nil)))
	if Logger(log) != log {
		t.Error("wrapping a wrapped logger wrapped it again")
	}
	ctx := WithRequestID(context.Background(), "req-1")
	if RequestID(ctx) != "req-1" || RequestID(context.Background()) != "" {
		t.Errorf("RequestID: %q", RequestID(ctx))
	}
	log.InfoContext(ctx, "one", "k", "v")
	log.With("component", "x").WarnContext(With(ctx, slog.String("extra", "e")), "two")
	log.Info("three")
	var lines []map[string]any
	for _, b := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	if lines[0]["request_id"] != "req-1" || lines[0]["k"] != "v" {
		t.Errorf("line one: %v", lines[0])
	}
	if lines[1]["request_id"] != "req-1" || lines[1]["extra"] != "e" || lines[1]["component"] != "x" {
		t.Errorf("line two: %v", lines[1])
	}
	if _, ok := lines[2]["request_id"]; ok {
		t.Errorf("line three has a request_id: %v", lines[2])
	}
}
