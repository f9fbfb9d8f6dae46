package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/config"
	"github.com/hafenchat/hafen/internal/store"
)

// TestFederationStatus runs `hafen federation status` on a database whose
// federation queues hold a failing and a healthy destination.
func TestFederationStatus(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			args := append([]string{"--data-dir", dir}, dbArgs(t)...)
			var out, errOut bytes.Buffer
			loaded, err := config.Load("test", args, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(ctx, databaseDSN(loaded.Config), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			retry := time.Now().Add(time.Hour).UnixMilli()
			err = db.Write(ctx, func(tx *store.Tx) error {
				if err := tx.EnqueuePDUs(ctx, []store.QueuedPDU{
					{Destination: "down.example", StreamPos: 7, RoomID: "!r:hafen.test", EventID: "$a"},
					{Destination: "down.example", StreamPos: 8, RoomID: "!r:hafen.test", EventID: "$b"},
					{Destination: "up.example", StreamPos: 8, RoomID: "!r:hafen.test", EventID: "$b"},
				}); err != nil {
					return err
				}
				if err := tx.RecordFailure(ctx, "down.example", 3, retry, "connection refused", time.Now().UnixMilli()); err != nil {
					return err
				}
				if err := tx.StartTransaction(ctx, "up.example", "t1", []int64{8}); err != nil {
					return err
				}
				return tx.CompleteTransaction(ctx, "up.example", "t1", time.Now().UnixMilli())
			})
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := run(ctx, append([]string{"federation", "status"}, args...), noEnv, nil, &out, &errOut); err != nil {
				t.Fatalf("federation status: %v\n%s", err, errOut.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 3 {
				t.Fatalf("status has %d lines, want a header and two destinations:\n%s", len(lines), out.String())
			}
			down, up := strings.Fields(lines[1]), strings.Fields(lines[2])
			if down[0] != "down.example" || down[1] != "2" || down[2] != "3" || down[3] != "never" ||
				down[4] != time.UnixMilli(retry).UTC().Format(time.RFC3339) || !strings.HasSuffix(lines[1], "connection refused") {
				t.Errorf("failing destination: %q", lines[1])
			}
			if up[0] != "up.example" || up[1] != "0" || up[2] != "0" || up[3] == "never" || up[4] != "-" || up[5] != "-" {
				t.Errorf("healthy destination: %q", lines[2])
			}
		})
	}
}
