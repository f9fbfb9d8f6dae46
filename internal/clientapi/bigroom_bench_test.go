package clientapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// Size of the room the read benchmarks use.
const (
	bigRoomMembers  = 10000
	bigRoomState    = 10000
	bigRoomMessages = 2000
	// bigRoomRenames members change their display name once, so their
	// member events carry prev_content.
	bigRoomRenames = 1000
)

// bigRoom is a room with bigRoomMembers members, bigRoomState custom state
// events and bigRoomMessages messages, served by the real router.
type bigRoom struct {
	h      http.Handler
	token  string
	roomID id.RoomID
	// midToken is a stream token from the middle of the room's history.
	midToken string
	// message and stateEvent are events to ask /event and /context for.
	message, stateEvent id.EventID
}

// newBigRoom builds the room through the room service (many concurrent
// sends, which the service batches), not through HTTP.
func newBigRoom(b *testing.B, dsn string) *bigRoom {
	b.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(ctx, dsn, logger)
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { db.Close() })
	key, err := signing.GenerateKey(rand.Reader, "hafen.test", "ed25519:test")
	if err != nil {
		b.Fatal(err)
	}
	svc := room.New(room.Config{DB: db, ServerName: "hafen.test", Key: key, Logger: logger})
	b.Cleanup(svc.Close)
	st := &account.Service{DB: db}
	s := &Server{
		ServerName: "hafen.test", Store: st, BcryptCost: bcrypt.MinCost,
		Rooms: &Rooms{Service: svc, Store: db},
	}
	rt := httpapi.NewRouter()
	s.Routes(rt)
	alice := id.UserID("@alice:hafen.test")
	if err := st.CreateUser(ctx, alice, "", false); err != nil {
		b.Fatal(err)
	}
	tok, _, err := s.issueToken(ctx, alice, "", "")
	if err != nil {
		b.Fatal(err)
	}
	roomID, err := svc.CreateRoom(ctx, &room.CreateRequest{Creator: alice, Preset: "public_chat", Version: roomversion.Default})
	if err != nil {
		b.Fatal(err)
	}
	br := &bigRoom{h: httpapi.Middleware(nil, rt), token: string(tok), roomID: roomID}

	// parallel runs n sends on 64 goroutines.
	parallel := func(what string, n int, send func(i int) error) {
		var wg sync.WaitGroup
		var once sync.Once
		var firstErr error
		next := make(chan int)
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if err := send(i); err != nil {
						once.Do(func() { firstErr = err })
					}
				}
			}()
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		if firstErr != nil {
			b.Fatalf("%s: %v", what, firstErr)
		}
	}
	member := func(i int) id.UserID { return id.UserID(fmt.Sprintf("@m%05d:hafen.test", i)) }
	parallel("join", bigRoomMembers, func(i int) error {
		_, err := svc.ChangeMembership(ctx, roomID, room.MembershipChange{
			Sender: member(i), Target: member(i), Membership: room.MembershipJoin,
			Profile: map[string]string{"displayname": fmt.Sprintf("Member %d", i)},
		})
		return err
	})
	sendState := func(i int) error {
		sk := fmt.Sprintf("k%05d", i)
		_, _, err := svc.Send(ctx, roomID, room.Proposal{
			Type: "org.example.state", StateKey: &sk, Sender: alice,
			Content: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
		})
		return err
	}
	parallel("state", bigRoomState/2, sendState)
	sendMessage := func(i int) error {
		pdu, _, err := svc.Send(ctx, roomID, room.Proposal{
			Type: "m.room.message", Sender: alice,
			Content: json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":"message %d"}`, i)),
		})
		if err == nil && i == bigRoomMessages/4 {
			br.message = pdu.EventID()
		}
		return err
	}
	parallel("messages", bigRoomMessages/2, sendMessage)
	pos, err := db.MaxStreamPos(ctx)
	if err != nil {
		b.Fatal(err)
	}
	br.midToken = clientsync.Token(pos)
	parallel("state", bigRoomState/2, func(i int) error { return sendState(bigRoomState/2 + i) })
	parallel("renames", bigRoomRenames, func(i int) error {
		_, err := svc.ChangeMembership(ctx, roomID, room.MembershipChange{
			Sender: member(i), Target: member(i), Membership: room.MembershipJoin,
			Profile: map[string]string{"displayname": fmt.Sprintf("Renamed %d", i)},
		})
		return err
	})
	parallel("messages", bigRoomMessages/2, func(i int) error { return sendMessage(bigRoomMessages/2 + i) })
	ev, err := svc.CurrentStateEvent(ctx, roomID, "m.room.member", string(member(0)))
	if err != nil {
		b.Fatal(err)
	}
	br.stateEvent = ev.EventID()
	return br
}

// get sends one GET through the router and fails on a status other than
// 200.
func (br *bigRoom) get(b *testing.B, path string) int {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+br.token)
	rec := httptest.NewRecorder()
	br.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
	}
	return rec.Body.Len()
}

// BenchmarkBigRoomReads measures each read endpoint on a room with 10,000
// members and 10,000 other state events, on SQLite and (when configured)
// PostgreSQL.
func BenchmarkBigRoomReads(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var dsn string
			if backend == "sqlite" {
				dsn = filepath.Join(b.TempDir(), "hafen.db")
			} else {
				dsn = storetest.PostgresDSN(b)
			}
			br := newBigRoom(b, dsn)
			r := "/_matrix/client/v3/rooms/" + url.PathEscape(string(br.roomID))
			endpoints := []struct{ name, path string }{
				{"state", r + "/state"},
				{"members", r + "/members"},
				{"members_at_join", r + "/members?membership=join&at=" + br.midToken},
				{"joined_members", r + "/joined_members"},
				{"context", r + "/context/" + url.PathEscape(string(br.message)) + "?limit=100"},
				{"messages", r + "/messages?dir=b&limit=1000"},
				{"event_message", r + "/event/" + url.PathEscape(string(br.message))},
				{"event_state", r + "/event/" + url.PathEscape(string(br.stateEvent))},
			}
			for _, ep := range endpoints {
				b.Run(ep.name, func(b *testing.B) {
					var n int
					cpu0 := processCPU(b)
					for b.Loop() {
						n = br.get(b, ep.path)
					}
					// On a shared machine the wall time per request varies
					// with the load; the CPU time the process spent does
					// less.
					b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
					b.ReportMetric(float64(n), "resp_bytes")
				})
			}
		})
	}
}

// processCPU returns the CPU time (user and system) the process has used,
// in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
