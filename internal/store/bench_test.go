package store

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// BenchmarkPersistEvents measures events persisted per second, the way the
// event path persists them (event, its state group reference, the room's
// extremities and the fence on the room's generation, one write each), by one caller at a time and by many
// concurrent callers, whose writes the writer groups into shared
// transactions.
func BenchmarkPersistEvents(b *testing.B) {
	backends := []struct {
		name string
		dsn  func(b *testing.B) string
		opts Options
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "bench.db") }, Options{}},
		{"sqlite-normal", func(b *testing.B) string { return filepath.Join(b.TempDir(), "bench.db") },
			Options{SQLiteSynchronous: SQLiteSyncNormal}},
		{"postgres", func(b *testing.B) string { return postgresTestDSN(b) }, Options{}},
	}
	for _, be := range backends {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", be.name, writers), func(b *testing.B) {
				benchmarkPersistEvents(b, be.dsn(b), be.opts, writers)
			})
		}
	}
}

func benchmarkPersistEvents(b *testing.B, dsn string, opts Options, writers int) {
	ctx := context.Background()
	db, err := OpenWith(ctx, dsn, testLogger(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var group int64
	write(b, db, func(tx *Tx) error {
		if err := tx.CreateRoom(ctx, Room{RoomID: roomA, RoomVersion: "12", Creator: alice}); err != nil {
			return err
		}
		var err error
		group, err = tx.StoreStateGroup(ctx, roomA, 0, map[StateKey]int64{{"m.room.create", ""}: 0})
		return err
	})
	// generation is only touched by write functions, which the writer
	// runs one at a time.
	var generation int64
	payload := []byte(`{"content":{"body":"hello","msgtype":"m.text"},"type":"m.room.message","sender":"@alice:hafen.test"}`)
	var seq atomic.Int64
	persist := func() error {
		n := seq.Add(1)
		return db.Write(ctx, func(tx *Tx) error {
			eid := id.EventID(fmt.Sprintf("$bench%d", n))
			nid, _, err := tx.InsertEvent(ctx, EventRecord{
				EventID: eid, RoomID: roomA, Type: "m.room.message", Sender: alice,
				Depth: n, OriginServerTS: n, JSON: payload,
			})
			if err != nil {
				return err
			}
			if err := tx.SetEventState(ctx, nid, group); err != nil {
				return err
			}
			if err := tx.SetExtremities(ctx, roomA, []id.EventID{eid}); err != nil {
				return err
			}
			if err := tx.AdvanceRoomHead(ctx, roomA, generation, group); err != nil {
				return err
			}
			generation++
			return nil
		})
	}
	batchesBefore, jobsBefore := db.w.batches.Load(), db.w.jobs.Load()
	b.ResetTimer()
	if writers == 1 {
		for range b.N {
			if err := persist(); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		// RunParallel starts parallelism × GOMAXPROCS goroutines.
		b.SetParallelism(max(1, writers/max(1, testingProcs())))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := persist(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if batches := db.w.batches.Load() - batchesBefore; batches > 0 {
		b.ReportMetric(float64(db.w.jobs.Load()-jobsBefore)/float64(batches), "events/txn")
	}
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
