package userdir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedjoin"
)

// failingProfiles answers every query with the error of the user's server
// and records who was asked.
type failingProfiles struct {
	errs  map[id.ServerName]error
	asked []id.UserID
}

func (p *failingProfiles) QueryProfile(_ context.Context, u id.UserID) (map[string]string, error) {
	p.asked = append(p.asked, u)
	return nil, p.errs[u.Domain()]
}

func TestProfileFetcherBacksOffFailedServers(t *testing.T) {
	remote := &failingProfiles{errs: map[id.ServerName]error{
		"down.test":    errors.New("connection refused"),
		"unknown.test": fmt.Errorf("profile: %w", fedjoin.ErrProfileNotFound),
	}}
	f := newProfileFetcher(remote, nil, slog.New(slog.DiscardHandler))
	now := time.Unix(1000, 0)
	f.now = func() time.Time { return now }
	drain := func() {
		for {
			u, ok := f.next()
			if !ok {
				return
			}
			f.fetch(context.Background(), u)
		}
	}
	f.add([]id.UserID{"@a:down.test", "@b:down.test", "@x:unknown.test", "@y:unknown.test", "@x:unknown.test"})
	drain()
	// The second user of the failed server waits; a server that knows no
	// such user is up; a user queued twice is asked once.
	want := []id.UserID{"@a:down.test", "@x:unknown.test", "@y:unknown.test"}
	if fmt.Sprint(remote.asked) != fmt.Sprint(want) {
		t.Fatalf("asked %v, want %v", remote.asked, want)
	}
	remote.asked = nil
	f.add([]id.UserID{"@c:down.test"})
	drain()
	if len(remote.asked) != 0 {
		t.Fatalf("asked %v of a server that failed within the backoff", remote.asked)
	}
	now = now.Add(serverBackoff)
	f.add([]id.UserID{"@c:down.test"})
	drain()
	if fmt.Sprint(remote.asked) != "[@c:down.test]" {
		t.Fatalf("after the backoff asked %v, want [@c:down.test]", remote.asked)
	}
}

func TestProfileFetcherQueueIsBounded(t *testing.T) {
	f := newProfileFetcher(&failingProfiles{}, nil, slog.New(slog.DiscardHandler))
	users := make([]id.UserID, maxProfileQueue+5)
	for i := range users {
		users[i] = id.UserID(fmt.Sprintf("@u%d:remote.test", i))
	}
	f.add(users)
	if len(f.queue) != maxProfileQueue {
		t.Fatalf("queue holds %d, want %d", len(f.queue), maxProfileQueue)
	}
	f.Stop() // never started: returns
	f.Stop()
}

// TestEntryHeldToProfileLimits: another server's profile, from its answer
// or from a member event, is held to this server's limits before it is
// stored: an over-long display name, an avatar that is not an mxc:// URI
// or a value with a NUL (which PostgreSQL cannot store) is left out.
func TestEntryHeldToProfileLimits(t *testing.T) {
	for _, tc := range []struct {
		name, avatar         string
		wantName, wantAvatar string
	}{
		{"Fine Name", "mxc://remote.test/a", "Fine Name", "mxc://remote.test/a"},
		{strings.Repeat("x", 300), "https://example.org/a.png", "", ""},
		{"", "", "", ""},
		{"a\x00b", "mxc://remote.test/a\x00", "", ""},
	} {
		e := newEntry("@someone:remote.test", tc.name, tc.avatar)
		if e.DisplayName != tc.wantName || e.AvatarURL != tc.wantAvatar {
			t.Errorf("newEntry(%.20q, %q) = %.20q, %q; want %.20q, %q", tc.name, tc.avatar, e.DisplayName, e.AvatarURL, tc.wantName, tc.wantAvatar)
		}
		content, _ := json.Marshal(map[string]string{"membership": "join", "displayname": tc.name, "avatar_url": tc.avatar})
		if m, ok := joinEntry("@someone:remote.test", content); !ok || m.DisplayName != tc.wantName || m.AvatarURL != tc.wantAvatar {
			t.Errorf("joinEntry(%.20q, %q) = %.20q, %q, %v; want %.20q, %q", tc.name, tc.avatar, m.DisplayName, m.AvatarURL, ok, tc.wantName, tc.wantAvatar)
		}
	}
}
