package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// orderRoom is a room whose events arrived out of topological order: a
// backfill of old depths after newer events, and a fork at one depth.
type orderRoom struct {
	roomID id.RoomID
	pos    map[string]int64  // label → stream position
	label  map[string]string // event ID → label
}

func newOrderRoom(t *testing.T, db *DB) *orderRoom {
	t.Helper()
	o := &orderRoom{roomID: "!order:order.test", pos: map[string]int64{}, label: map[string]string{}}
	insert := func(roomID id.RoomID, label string, depth int64, outlier, rejected bool) {
		t.Helper()
		eventID := id.EventID("$" + label + "_" + string(roomID[1:2]) + ":order.test")
		write(t, db, func(tx *Tx) error {
			_, pos, err := tx.InsertEvent(context.Background(), EventRecord{
				EventID: eventID, RoomID: roomID, Type: "m.room.message",
				Sender: "@a:order.test", Depth: depth, OriginServerTS: 1, JSON: []byte(`{}`),
				Outlier: outlier, Rejected: rejected,
			})
			o.pos[label] = pos
			return err
		})
		o.label[string(eventID)] = label
	}
	// Arrival order; the label's letter is the event, the digit its depth.
	for _, e := range []struct {
		label             string
		depth             int64
		outlier, rejected bool
	}{
		{"a1", 1, false, false},
		{"b2", 2, false, false},
		{"c3", 3, false, false},
		{"o3", 3, true, false}, // an outlier: in no timeline
		{"d4", 4, false, false},
		{"x2", 2, false, false}, // backfilled: old depth, arrives late
		{"r3", 3, false, true},  // rejected: in no timeline
		{"y1", 1, false, false}, // backfilled
		{"e5", 5, false, false},
		{"f5", 5, false, false}, // a fork beside e5
	} {
		insert(o.roomID, e.label, e.depth, e.outlier, e.rejected)
		if e.label == "c3" {
			insert("!other:order.test", "z3", 3, false, false)
		}
	}
	return o
}

// labels returns the labels of events.
func (o *orderRoom) labels(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = o.label[string(e.EventID)]
	}
	return out
}

// topoOrder is the order of orderRoom's timeline by (depth, stream).
var topoOrder = []string{"a1", "y1", "b2", "x2", "c3", "d4", "e5", "f5"}

func TestRoomEventsTopo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		o := newOrderRoom(t, db)
		all, err := db.RoomEventsTopo(ctx, o.roomID, TopoPos{}, MaxTopoPos, Forward, 100)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.labels(all); !slices.Equal(got, topoOrder) {
			t.Fatalf("forward over everything = %v, want %v", got, topoOrder)
		}
		at := func(label string) TopoPos {
			for _, e := range all {
				if o.label[string(e.EventID)] == label {
					return TopoPosOf(e)
				}
			}
			t.Fatalf("no event %s", label)
			return TopoPos{}
		}
		reversed := slices.Clone(topoOrder)
		slices.Reverse(reversed)
		tests := []struct {
			name     string
			from, to TopoPos
			dir      Direction
			limit    int
			want     []string
		}{
			{"backward over everything", MaxTopoPos, TopoPos{}, Backward, 100, reversed},
			{"forward after b2, up to d4", at("b2"), at("d4"), Forward, 100, []string{"x2", "c3", "d4"}},
			{"backward from d4 down to b2 (exclusive)", at("d4"), at("b2"), Backward, 100, []string{"d4", "c3", "x2"}},
			{"backward from before c3", at("c3").Before(), TopoPos{}, Backward, 100, []string{"x2", "b2", "y1", "a1"}},
			{"forward within one depth", at("e5").Before(), MaxTopoPos, Forward, 100, []string{"e5", "f5"}},
			{"limit", MaxTopoPos, TopoPos{}, Backward, 3, []string{"f5", "e5", "d4"}},
			{"empty range", at("c3"), at("c3"), Forward, 100, []string{}},
		}
		for _, tc := range tests {
			got, err := db.RoomEventsTopo(ctx, o.roomID, tc.from, tc.to, tc.dir, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if l := o.labels(got); !slices.Equal(l, tc.want) {
				t.Errorf("%s: RoomEventsTopo(%v, %v) = %v, want %v", tc.name, tc.from, tc.to, l, tc.want)
			}
		}
		// Walking in pages of two, each continuing just past the last
		// event, visits every event once, in either direction.
		for _, dir := range []Direction{Forward, Backward} {
			from, to, want := TopoPos{}, MaxTopoPos, topoOrder
			if dir == Backward {
				from, to, want = MaxTopoPos, TopoPos{}, reversed
			}
			var walked []string
			for range 20 {
				page, err := db.RoomEventsTopo(ctx, o.roomID, from, to, dir, 2)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				walked = append(walked, o.labels(page)...)
				from = TopoPosOf(page[len(page)-1])
				if dir == Backward {
					from = from.Before()
				}
			}
			if !slices.Equal(walked, want) {
				t.Errorf("walk in pages of 2, dir %d = %v, want %v", dir, walked, want)
			}
		}
	})
}

func TestRoomTopoPosAt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		o := newOrderRoom(t, db)
		tests := []struct {
			name string
			pos  int64
			want string // label of the event the position is just after; "" for none
		}{
			{"before the room", o.pos["a1"] - 1, ""},
			{"at its first event", o.pos["a1"], "a1"},
			{"at the last live event before the backfill", o.pos["d4"], "d4"},
			{"after backfilled events of older depth", o.pos["y1"], "d4"},
			{"at a fork", o.pos["f5"], "f5"},
			{"after everything", 1 << 62, "f5"},
		}
		for _, tc := range tests {
			got, err := db.RoomTopoPosAt(ctx, o.roomID, tc.pos)
			if err != nil {
				t.Fatal(err)
			}
			want := TopoPos{}
			if tc.want != "" {
				want = TopoPos{Depth: int64(tc.want[1] - '0'), Stream: o.pos[tc.want]}
			}
			if got != want {
				t.Errorf("%s: RoomTopoPosAt(%d) = %v, want %v (%s)", tc.name, tc.pos, got, want, tc.want)
			}
		}

		// e5 came above a gap: a token just before it (the prev_batch of
		// a timeline starting at e5) lies just below e5, above d4.
		var e5 id.EventID
		for eid, l := range o.label {
			if l == "e5" {
				e5 = id.EventID(eid)
			}
		}
		write(t, db, func(tx *Tx) error { return tx.MarkGapBelow(ctx, e5) })
		if evs, err := db.EventsByID(ctx, []id.EventID{e5}); err != nil || len(evs) != 1 || !evs[0].GapBelow {
			t.Fatalf("e5 after MarkGapBelow: %+v, %v", evs, err)
		}
		below := TopoPos{Depth: 5, Stream: o.pos["e5"]}.Before()
		for pos, want := range map[int64]TopoPos{
			o.pos["y1"]: below,                           // just before e5
			o.pos["e5"]: {Depth: 5, Stream: o.pos["e5"]}, // f5 lies above no gap
			o.pos["a1"]: {Depth: 1, Stream: o.pos["a1"]}, // the next event is b2
		} {
			if got, err := db.RoomTopoPosAt(ctx, o.roomID, pos); err != nil || got != want {
				t.Errorf("with a gap below e5: RoomTopoPosAt(%d) = %v, %v; want %v", pos, got, err, want)
			}
		}
	})
}

// BenchmarkRoomOrderReads compares a page of a room's timeline in
// topological order with the same page in stream order, and the conversion
// of a stream token into a topological position for a recent token (a
// sync's prev_batch) and for one from the middle of the room's history (a
// stale stored token), in a room of 10,000 events interleaved with another
// room's.
func BenchmarkRoomOrderReads(b *testing.B) {
	backends := []struct {
		name string
		dsn  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "bench.db") }},
		{"postgres", func(b *testing.B) string { return postgresTestDSN(b) }},
	}
	const events = 10000
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			db := openTestDB(b, be.dsn(b))
			const roomID, other = id.RoomID("!bench:order.test"), id.RoomID("!other:order.test")
			var positions []int64
			var tops []TopoPos
			for chunk := 0; chunk < events; chunk += 1000 {
				write(b, db, func(tx *Tx) error {
					for i := chunk; i < chunk+1000; i++ {
						for _, r := range []id.RoomID{roomID, other} {
							_, pos, err := tx.InsertEvent(ctx, EventRecord{
								EventID: id.EventID(fmt.Sprintf("$%d_%s:order.test", i, r[1:2])), RoomID: r, Type: "m.room.message",
								Sender: "@a:order.test", Depth: int64(i + 1), OriginServerTS: 1, JSON: []byte(`{}`),
							})
							if err != nil {
								return err
							}
							if r == roomID {
								positions = append(positions, pos)
								tops = append(tops, TopoPos{Depth: int64(i + 1), Stream: pos})
							}
						}
					}
					return nil
				})
			}
			if be.name == "postgres" { // as autovacuum would have by now
				if _, err := db.q.ExecContext(ctx, "ANALYZE"); err != nil {
					b.Fatal(err)
				}
			}
			mid, recent := events/2, events-10
			for _, bm := range []struct {
				name string
				f    func() error
			}{
				{"page/stream", func() error {
					_, err := db.RoomEventsRange(ctx, roomID, positions[mid], 0, Backward, 11)
					return err
				}},
				{"page/topological", func() error {
					_, err := db.RoomEventsTopo(ctx, roomID, tops[mid], TopoPos{}, Backward, 11)
					return err
				}},
				{"token/last_event_at_middle", func() error {
					_, err := db.LastRoomEventAt(ctx, roomID, positions[mid])
					return err
				}},
				{"token/topo_pos_at_recent", func() error {
					_, err := db.RoomTopoPosAt(ctx, roomID, positions[recent])
					return err
				}},
				{"token/topo_pos_at_middle", func() error {
					_, err := db.RoomTopoPosAt(ctx, roomID, positions[mid])
					return err
				}},
			} {
				b.Run(bm.name, func(b *testing.B) {
					for b.Loop() {
						if err := bm.f(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
