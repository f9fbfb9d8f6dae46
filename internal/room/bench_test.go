package room

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/store"
)

// BenchmarkSendOneRoom measures local messages sent into one room through
// the whole event path (build, sign, auth, persist, notify) on SQLite, by
// one sender at a time and by many concurrent senders, whose events the
// room batches.
func BenchmarkSendOneRoom(b *testing.B) {
	for _, senders := range []int{1, 16} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			ctx := context.Background()
			db, err := store.Open(ctx, filepath.Join(b.TempDir(), "hafen.db"), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			key, err := signing.KeyFromSeed(testServer, "ed25519:test", make([]byte, 32))
			if err != nil {
				b.Fatal(err)
			}
			s := New(Config{DB: db, ServerName: testServer, Key: key, Logger: slog.New(slog.DiscardHandler)})
			alice := id.UserID("@alice:hafen.test")
			roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
			if err != nil {
				b.Fatal(err)
			}
			msg := text("hello")
			b.SetParallelism(max(1, senders/max(1, testingProcs())))
			b.ResetTimer()
			if senders == 1 {
				for range b.N {
					if _, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: msg}); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: msg}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
