package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
	"github.com/hafenchat/hafen/internal/stream"
)

// bigRemoteJoin builds the join of a local user to a room of a.test with
// members members and stateEvents other state events, as fedjoin hands
// it to ImportJoin.
func bigRemoteJoin(b *testing.B, members, stateEvents int) RemoteJoin {
	b.Helper()
	v := roomversion.V10
	remote, err := signing.GenerateKey(rand.Reader, "a.test", "ed25519:a")
	if err != nil {
		b.Fatal(err)
	}
	local, err := signing.KeyFromSeed(testServer, "ed25519:test", make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	owner := id.UserID("@owner:a.test")
	var state []*event.PDU
	var prev *event.PDU
	add := func(typ, sk string, sender id.UserID, content string, key signing.Key) *event.PDU {
		b.Helper()
		p := event.Proto{Type: typ, StateKey: &sk, Sender: sender, RoomID: "!big:a.test", Content: json.RawMessage(content),
			Depth: 1, OriginServerTS: int64(len(state) + 1)}
		if prev != nil {
			p.PrevEvents, p.Depth = []id.EventID{prev.EventID()}, prev.Depth()+1
			p.AuthEvents = []id.EventID{state[0].EventID()}
		}
		e, err := event.Build(p, v, key)
		if err != nil {
			b.Fatal(err)
		}
		prev = e
		return e
	}
	state = append(state, add("m.room.create", "", owner, `{"creator":"@owner:a.test","room_version":"10"}`, remote))
	for i := range members - 1 {
		u := owner
		if i > 0 {
			u = id.UserID(fmt.Sprintf("@u%d:a.test", i))
		}
		state = append(state, add("m.room.member", string(u), u, `{"membership":"join"}`, remote))
	}
	for i := range stateEvents {
		state = append(state, add("org.hafen.bench.state", fmt.Sprint(i), owner, `{"n":1}`, remote))
	}
	me := id.UserID("@me:" + string(testServer))
	join := add("m.room.member", string(me), me, `{"membership":"join"}`, local)
	return RemoteJoin{RoomID: "!big:a.test", Version: v, Join: join, State: state, AuthChain: state[:1]}
}

// BenchmarkImportJoinBigRoom stores the join of a room with 500 members
// and 2,000 other state events, on a fresh store each time.
func BenchmarkImportJoinBigRoom(b *testing.B) {
	rj := bigRemoteJoin(b, 500, 2000)
	for _, backend := range storetest.Backends() {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			for range b.N {
				b.StopTimer()
				db, err := store.Open(ctx, storetest.DSN(b, backend), slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				key, _ := signing.KeyFromSeed(testServer, "ed25519:test", make([]byte, 32))
				s := New(Config{DB: db, ServerName: testServer, Key: key, Logger: slog.New(slog.DiscardHandler), Stream: stream.New(0, 0)})
				b.StartTimer()
				if _, err := s.ImportJoin(ctx, rj); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Close()
				db.Close()
				b.StartTimer()
			}
		})
	}
}
