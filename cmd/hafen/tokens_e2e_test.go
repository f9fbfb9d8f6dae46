package main

import (
	"context"
	"errors"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// TestTokensEndToEnd: the tokens clients store keep working and garbage is
// refused with the spec's error, through the real server on every backend.
func TestTokensEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			ctx := context.Background()
			alice := register(t, base, "alice")
			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
			if err != nil {
				t.Fatalf("createRoom: %v\n%s", err, logs)
			}
			s1, err := alice.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("initial sync: %v", err)
			}
			sent, err := alice.SendText(ctx, created.RoomID, "after the token")
			if err != nil {
				t.Fatalf("send: %v", err)
			}

			// A token in the form of an earlier version (fewer streams)
			// or of a later one (more streams) syncs on from the same
			// point.
			for _, since := range []string{s1.NextBatch, s1.NextBatch + "_0", s1.NextBatch + "_0_0_0_0_0_0_0_0"} {
				s, err := alice.SyncRequest(ctx, 0, since, "", false, event.PresenceOnline)
				if err != nil {
					t.Fatalf("sync since %q: %v", since, err)
				}
				jr := s.Rooms.Join[created.RoomID]
				if jr == nil || len(jr.Timeline.Events) != 1 || jr.Timeline.Events[0].ID != sent.EventID {
					t.Errorf("sync since %q: %+v, want the one message sent after it", since, jr)
				}
			}

			// Garbage is 400 M_INVALID_PARAM, not a 500 or an initial sync.
			for _, since := range []string{"garbage", "s", "s-1", "s1__2", "t1-2", "s99999999999999999999"} {
				_, err := alice.SyncRequest(ctx, 0, since, "", false, event.PresenceOnline)
				wantHTTPError(t, "sync since "+since, err, 400, "M_INVALID_PARAM")
			}
			for _, from := range []string{"garbage", "t1", "t1-", "t-1-2", "s1_x"} {
				_, err := alice.Messages(ctx, created.RoomID, from, "", mautrix.DirectionBackward, nil, 5)
				wantHTTPError(t, "messages from "+from, err, 400, "M_INVALID_PARAM")
			}

			// /messages accepts sync's next_batch (a stream token) and
			// answers with topological tokens that page on.
			m, err := alice.Messages(ctx, created.RoomID, s1.NextBatch+"_0", "", mautrix.DirectionForward, nil, 5)
			if err != nil {
				t.Fatalf("messages from next_batch: %v", err)
			}
			if len(m.Chunk) != 1 || m.Chunk[0].ID != sent.EventID {
				t.Errorf("messages forwards from next_batch = %d events, want the message sent after it", len(m.Chunk))
			}
			back, err := alice.Messages(ctx, created.RoomID, "", "", mautrix.DirectionBackward, nil, 1)
			if err != nil {
				t.Fatalf("messages: %v", err)
			}
			if back.Start == "" || back.Start[0] != 't' || back.End == "" || back.End[0] != 't' {
				t.Errorf("messages start, end = %q, %q; want topological tokens", back.Start, back.End)
			}
			more, err := alice.Messages(ctx, created.RoomID, back.End, "", mautrix.DirectionBackward, nil, 1)
			if err != nil || len(more.Chunk) != 1 || more.Chunk[0].ID == back.Chunk[0].ID {
				t.Errorf("messages from end %q = %+v, %v; want the event before", back.End, more, err)
			}
		})
	}
}

// wantHTTPError asserts that err is a Matrix error with the given status
// and errcode.
func wantHTTPError(t *testing.T, what string, err error, status int, errcode string) {
	t.Helper()
	var he mautrix.HTTPError
	if !errors.As(err, &he) || he.RespError == nil {
		t.Errorf("%s: err = %v, want %d %s", what, err, status, errcode)
		return
	}
	if he.RespError.StatusCode != status || he.RespError.ErrCode != errcode {
		t.Errorf("%s: got %d %s, want %d %s", what, he.RespError.StatusCode, he.RespError.ErrCode, status, errcode)
	}
}
