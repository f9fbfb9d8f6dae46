package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is an in-memory homeserver with one timeline for all rooms: just
// enough of the Client-Server API for a run.
type fakeServer struct {
	// hide, when set, keeps matching message events out of /sync answers.
	hide func(content json.RawMessage) bool

	mu          sync.Mutex
	users       map[string]string // access token → user ID
	events      []map[string]any
	txns        map[string]string // token + txn ID → event ID
	changed     chan struct{}     // closed and replaced on every new event
	roomID      string
	remoteJoins int // joins on a server other than localhost
	// receipts is each user's m.read receipt: the index of its event.
	receipts map[string]int
	// refuseReceipts, when set, answers every receipt with 403.
	refuseReceipts bool
}

func newFakeServer() *fakeServer {
	return &fakeServer{users: map[string]string{}, txns: map[string]string{}, changed: make(chan struct{}), receipts: map[string]int{}}
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.serve("localhost", w, r)
}

// on returns the fake as the homeserver named name: its users are
// @…:name, it accepts only their tokens, and it joins the room (which lives
// on localhost) only through localhost. Two views of one fake are two
// federated servers sharing the room's timeline.
func (f *fakeServer) on(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.serve(name, w, r) })
}

func (f *fakeServer) serve(name string, w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/_matrix/client/v3/register" {
		var req registerRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, map[string]any{"errcode": "M_NOT_JSON"})
			return
		}
		if req.Auth == nil || req.Auth.Type != "m.login.dummy" || req.Auth.Session != "sess-1" {
			writeJSON(w, 401, dummyFlows)
			return
		}
		f.mu.Lock()
		tok := "tok-" + req.Username
		f.users[tok] = "@" + req.Username + ":" + name
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"user_id": "@" + req.Username + ":" + name, "access_token": tok, "device_id": "D"})
		return
	}
	f.mu.Lock()
	user, ok := f.users[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	f.mu.Unlock()
	if !ok || !strings.HasSuffix(user, ":"+name) {
		writeJSON(w, 401, map[string]any{"errcode": "M_UNKNOWN_TOKEN"})
		return
	}
	switch {
	case path == "/_matrix/client/v3/createRoom":
		f.mu.Lock()
		f.roomID = "!room:localhost"
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"room_id": "!room:localhost"})
	case strings.HasPrefix(path, "/_matrix/client/v3/join/"):
		if name != "localhost" {
			q := r.URL.Query()
			if !slices.Contains(q["via"], "localhost") || !slices.Contains(q["server_name"], "localhost") {
				writeJSON(w, 404, map[string]any{"errcode": "M_NOT_FOUND", "error": "no server to join through"})
				return
			}
			f.mu.Lock()
			f.remoteJoins++
			f.mu.Unlock()
		}
		writeJSON(w, 200, map[string]any{"room_id": strings.TrimPrefix(path, "/_matrix/client/v3/join/")})
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/_matrix/client/v3/rooms/!room:localhost/send/m.room.message/"):
		body, _ := io.ReadAll(r.Body)
		key := user + "|" + path
		f.mu.Lock()
		eventID, dup := f.txns[key]
		if !dup {
			eventID = fmt.Sprintf("$%d", len(f.events))
			f.txns[key] = eventID
			f.events = append(f.events, map[string]any{"type": "m.room.message", "sender": user, "event_id": eventID, "content": json.RawMessage(body)})
			close(f.changed)
			f.changed = make(chan struct{})
		}
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"event_id": eventID})
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/_matrix/client/v3/rooms/!room:localhost/receipt/m.read/$"):
		i, err := strconv.Atoi(strings.TrimPrefix(path, "/_matrix/client/v3/rooms/!room:localhost/receipt/m.read/$"))
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case f.refuseReceipts:
			writeJSON(w, 403, map[string]any{"errcode": "M_FORBIDDEN", "error": "no receipts here"})
		case err != nil || i < 0 || i >= len(f.events):
			writeJSON(w, 404, map[string]any{"errcode": "M_NOT_FOUND", "error": "no such event"})
		default:
			// A receipt never moves back, as on a real server.
			if old, ok := f.receipts[user]; !ok || i > old {
				f.receipts[user] = i
			}
			writeJSON(w, 200, map[string]any{})
		}
	case path == "/_matrix/client/v3/sync":
		f.sync(w, r)
	default:
		writeJSON(w, 404, map[string]any{"errcode": "M_UNRECOGNIZED"})
	}
}

func (f *fakeServer) sync(w http.ResponseWriter, r *http.Request) {
	var filter struct {
		Room struct {
			Rooms []string `json:"rooms"`
		} `json:"room"`
	}
	if err := json.Unmarshal([]byte(r.URL.Query().Get("filter")), &filter); err != nil || len(filter.Room.Rooms) != 1 {
		writeJSON(w, 400, map[string]any{"errcode": "M_BAD_JSON", "error": "bad filter"})
		return
	}
	since, _ := strconv.Atoi(r.URL.Query().Get("since"))
	timeout, _ := strconv.Atoi(r.URL.Query().Get("timeout"))
	deadline := time.NewTimer(time.Duration(timeout) * time.Millisecond)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		events, changed := f.events[min(since, len(f.events)):], f.changed
		next := len(f.events)
		f.mu.Unlock()
		if len(events) > 0 || r.URL.Query().Get("since") == "" {
			var shown []map[string]any
			for _, ev := range events {
				if f.hide == nil || !f.hide(ev["content"].(json.RawMessage)) {
					shown = append(shown, ev)
				}
			}
			writeJSON(w, 200, map[string]any{
				"next_batch": strconv.Itoa(next),
				"rooms": map[string]any{"join": map[string]any{
					"!room:localhost": map[string]any{"timeline": map[string]any{"events": shown, "limited": false}},
				}},
			})
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			writeJSON(w, 200, map[string]any{"next_batch": strconv.Itoa(next)})
			return
		case <-r.Context().Done():
			return
		}
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestRunAgainstFakeServer(t *testing.T) {
	srv := httptest.NewServer(newFakeServer())
	defer srv.Close()

	cfg := config{URL: srv.URL, Senders: 3, Messages: 7, Syncers: 4, OpenRegistration: true, Timeout: 20 * time.Second, PID: os.Getpid()}
	rep, err := run(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	if !rep.ok() {
		t.Errorf("report not ok: %+v", rep)
	}
	const total = 21
	checks := []struct {
		name      string
		got, want int
	}{
		{"messages", rep.Messages, total},
		{"sent", rep.Sent, total},
		{"send latency count", rep.SendLatency.Count, total},
		{"send→sync pairs", rep.SyncLatency.Count, total * 4},
		{"send→all synced count", rep.AllSyncedLatency.Count, total},
		{"seen by all", rep.SeenByAll, total},
		{"missing pairs", rep.MissingPairs, 0},
		{"errors", rep.Errors, 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if rep.SyncLatency.P50MS > rep.SyncLatency.P99MS || rep.SyncLatency.P99MS > rep.SyncLatency.MaxMS {
		t.Errorf("send→sync p50 %v, p99 %v, max %v are not ordered", rep.SyncLatency.P50MS, rep.SyncLatency.P99MS, rep.SyncLatency.MaxMS)
	}
	if sv := rep.Server; sv == nil || sv.Before.RSSKiB <= 0 || sv.After.RSSKiB <= 0 || sv.CPUSeconds < 0 {
		t.Errorf("server = %+v, want readings of this process", sv)
	} else if sv.MeasuredCPUSeconds < 0 || sv.MeasuredCPUSeconds > sv.CPUSeconds {
		t.Errorf("server CPU while sending = %v s, want within 0 and the run's %v s", sv.MeasuredCPUSeconds, sv.CPUSeconds)
	}
	if rep.LoadCPUSeconds < 0 {
		t.Errorf("load CPU = %v s, want ≥ 0", rep.LoadCPUSeconds)
	}

	var text, js bytes.Buffer
	if err := rep.writeText(&text); err != nil || !strings.Contains(text.String(), "send→sync latency") ||
		!strings.Contains(text.String(), "hafen-load CPU") || !strings.Contains(text.String(), "while sending and syncing") {
		t.Errorf("writeText = %v, %q", err, text.String())
	}
	if err := rep.writeJSON(&js); err != nil {
		t.Fatalf("writeJSON = %v", err)
	}
	var back report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Sent != total {
		t.Errorf("JSON report does not read back: %v, sent %d", err, back.Sent)
	}
}

func TestRunPostsReadReceipts(t *testing.T) {
	fake := newFakeServer()
	srv := httptest.NewServer(fake)
	defer srv.Close()

	cfg := config{URL: srv.URL, Senders: 3, Messages: 6, Syncers: 4, OpenRegistration: true, Timeout: 20 * time.Second, Receipts: true}
	rep, err := run(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	if !rep.ok() || !rep.Receipts {
		t.Errorf("report not ok or without receipts: %+v", rep)
	}
	fake.readUpToLast(t, 4)
	if rep.ReceiptsSent < 4 || rep.ReceiptsFailed != 0 {
		t.Errorf("receipts sent %d, failed %d; want at least one per syncer and none failed", rep.ReceiptsSent, rep.ReceiptsFailed)
	}
	var text, js bytes.Buffer
	if err := rep.writeText(&text); err != nil || !strings.Contains(text.String(), "read receipts") {
		t.Errorf("writeText = %v, %q", err, text.String())
	}
	if err := rep.writeJSON(&js); err != nil || !strings.Contains(js.String(), `"receipts_sent": `+strconv.FormatInt(rep.ReceiptsSent, 10)) {
		t.Errorf("writeJSON = %v, %s", err, js.String())
	}
}

func TestRunSpacesReceiptsByTheInterval(t *testing.T) {
	fake := newFakeServer()
	srv := httptest.NewServer(fake)
	defer srv.Close()

	// With an hour between two receipts, each syncer posts its first at
	// once and, when the run ends, the newest at once: two at most.
	cfg := config{URL: srv.URL, Senders: 3, Messages: 20, Syncers: 4, OpenRegistration: true, Timeout: 20 * time.Second,
		Receipts: true, ReceiptInterval: time.Hour}
	rep, err := run(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	if !rep.ok() || rep.ReceiptIntervalMS != time.Hour.Milliseconds() {
		t.Errorf("report not ok or without the interval: %+v", rep)
	}
	if rep.ReceiptsSent < 4 || rep.ReceiptsSent > 8 || rep.ReceiptsFailed != 0 {
		t.Errorf("receipts sent %d, failed %d; want one or two per syncer and none failed", rep.ReceiptsSent, rep.ReceiptsFailed)
	}
	fake.readUpToLast(t, 4)
}

// readUpToLast checks that every syncer, and only the syncers, read up to
// the last message.
func (f *fakeServer) readUpToLast(t *testing.T, syncers int) {
	t.Helper()
	f.mu.Lock()
	receipts, last := maps.Clone(f.receipts), len(f.events)-1
	f.mu.Unlock()
	if len(receipts) != syncers {
		t.Errorf("receipts of %d users, want the %d syncers': %v", len(receipts), syncers, receipts)
	}
	for user, i := range receipts {
		if i != last {
			t.Errorf("%s read up to event %d, want the last message %d", user, i, last)
		}
	}
}

func TestRunWithoutReceiptsPostsNone(t *testing.T) {
	fake := newFakeServer()
	srv := httptest.NewServer(fake)
	defer srv.Close()

	cfg := config{URL: srv.URL, Senders: 2, Messages: 3, Syncers: 2, OpenRegistration: true, Timeout: 20 * time.Second}
	rep, err := run(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	fake.mu.Lock()
	n := len(fake.receipts)
	fake.mu.Unlock()
	if !rep.ok() || n != 0 || rep.Receipts || rep.ReceiptsSent != 0 {
		t.Errorf("ok %v, %d users with receipts, report receipts %v/%d; want ok and none", rep.ok(), n, rep.Receipts, rep.ReceiptsSent)
	}
	var text bytes.Buffer
	if err := rep.writeText(&text); err != nil || strings.Contains(text.String(), "read receipts") {
		t.Errorf("writeText = %v, %q", err, text.String())
	}
}

func TestRunCountsFailedReceipts(t *testing.T) {
	fake := newFakeServer()
	fake.refuseReceipts = true
	srv := httptest.NewServer(fake)
	defer srv.Close()

	cfg := config{URL: srv.URL, Senders: 2, Messages: 3, Syncers: 2, OpenRegistration: true, Timeout: 20 * time.Second, Receipts: true}
	rep, err := run(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	// Every message still arrives; the refused receipts make the run fail.
	if !rep.Complete || rep.SeenByAll != 6 || rep.ok() {
		t.Errorf("complete %v, seen by all %d, ok %v; want complete, 6, not ok", rep.Complete, rep.SeenByAll, rep.ok())
	}
	if rep.ReceiptsFailed < 2 || rep.ReceiptsSent != 0 || rep.ErrorsByPhase["receipt"] != int(rep.ReceiptsFailed) {
		t.Errorf("receipts failed %d, sent %d, receipt errors %d; want at least one per syncer, none sent, errors = failures",
			rep.ReceiptsFailed, rep.ReceiptsSent, rep.ErrorsByPhase["receipt"])
	}
	if len(rep.ErrorSamples) == 0 || !strings.Contains(rep.ErrorSamples[0], "M_FORBIDDEN") {
		t.Errorf("error samples = %q, want the refused receipt", rep.ErrorSamples)
	}
}

func TestRunWithSyncersOnAFederatedServer(t *testing.T) {
	fake := newFakeServer()
	home := httptest.NewServer(fake.on("localhost"))
	defer home.Close()
	remote := httptest.NewServer(fake.on("remote.test"))
	defer remote.Close()

	cfg := config{URL: home.URL, RemoteURL: remote.URL, Senders: 2, Messages: 5, Syncers: 3,
		OpenRegistration: true, Timeout: 20 * time.Second, RemotePID: os.Getpid()}
	rep, err := run(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	if !rep.ok() {
		t.Errorf("report not ok: %+v", rep)
	}
	const total = 10
	if rep.Sent != total || rep.SyncLatency.Count != total*3 || rep.SeenByAll != total {
		t.Errorf("sent %d, send→seen pairs %d, seen by all %d; want %d, %d, %d",
			rep.Sent, rep.SyncLatency.Count, rep.SeenByAll, total, total*3, total)
	}
	fake.mu.Lock()
	joins, events := fake.remoteJoins, slices.Clone(fake.events)
	fake.mu.Unlock()
	if joins != 3 {
		t.Errorf("%d joins through localhost on the remote server, want one per syncer (3)", joins)
	}
	// Every message, the warm-up one included, came from a user of the
	// first server; the syncers (who only read) are the remote's users.
	if len(events) != total+1 {
		t.Errorf("%d events, want %d messages and the warm-up message", len(events), total)
	}
	for _, ev := range events {
		if sender := ev["sender"].(string); !strings.HasSuffix(sender, ":localhost") {
			t.Errorf("message sent by %s, want a user of the first server", sender)
		}
	}
	if rep.RemoteURL != remote.URL || rep.Server != nil {
		t.Errorf("remote URL %q, server %+v; want %q and no readings of the first server", rep.RemoteURL, rep.Server, remote.URL)
	}
	if sv := rep.RemoteServer; sv == nil || sv.Before.RSSKiB <= 0 {
		t.Errorf("remote server = %+v, want readings of this process", sv)
	}
	var text bytes.Buffer
	if err := rep.writeText(&text); err != nil || !strings.Contains(text.String(), "send→seen remotely") || !strings.Contains(text.String(), "remote server memory") {
		t.Errorf("writeText = %v, %q", err, text.String())
	}
}

func TestRunFailsSetupWhenTheRemoteCannotJoin(t *testing.T) {
	fake := newFakeServer()
	home := httptest.NewServer(fake.on("localhost"))
	defer home.Close()
	// The remote server refuses every join, as one with federation off does.
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_matrix/client/v3/join/") {
			writeJSON(w, 403, map[string]any{"errcode": "M_FORBIDDEN", "error": "federation is off"})
			return
		}
		fake.on("remote.test").ServeHTTP(w, r)
	}))
	defer remote.Close()

	cfg := config{URL: home.URL, RemoteURL: remote.URL, Senders: 1, Messages: 2, Syncers: 1, OpenRegistration: true, Timeout: 10 * time.Second}
	if _, err := run(context.Background(), cfg, quiet); err == nil || !strings.Contains(err.Error(), "M_FORBIDDEN") {
		t.Errorf("run = %v, want a setup error naming the refused join", err)
	}
}

func TestRunReportsMissingMessagesAtDeadline(t *testing.T) {
	fake := newFakeServer()
	// Hide the message with index 1 from every syncer.
	fake.hide = func(content json.RawMessage) bool {
		var c struct {
			ID string `json:"hafen_load_id"`
		}
		_ = json.Unmarshal(content, &c)
		return strings.HasSuffix(c.ID, "/1")
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	cfg := config{URL: srv.URL, Senders: 2, Messages: 3, Syncers: 2, OpenRegistration: true, Timeout: 2 * time.Second}
	start := time.Now()
	rep, err := run(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("run took %v after a 2s deadline", elapsed)
	}
	if rep.ok() || rep.Complete {
		t.Errorf("report ok with a hidden message: %+v", rep)
	}
	if rep.Sent != 6 || rep.MissingMessages != 1 || rep.MissingPairs != 2 || rep.SeenByAll != 5 {
		t.Errorf("sent %d, missing messages %d, missing pairs %d, seen by all %d; want 6, 1, 2, 5",
			rep.Sent, rep.MissingMessages, rep.MissingPairs, rep.SeenByAll)
	}
	if len(rep.MissingSample) != 2 || !strings.HasSuffix(rep.MissingSample[0], "/1") {
		t.Errorf("missing sample = %q, want the two pairs of message 1", rep.MissingSample)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults with open registration", []string{"--url", "http://127.0.0.1:8008/", "--open-registration"}, ""},
		{"shared secret", []string{"--url", "http://127.0.0.1:8008", "--register-shared-secret", "x", "--json"}, ""},
		{"no url", []string{"--open-registration"}, "--url"},
		{"both registration modes", []string{"--url", "http://h", "--open-registration", "--register-shared-secret", "x"}, "exactly one"},
		{"neither registration mode", []string{"--url", "http://h"}, "exactly one"},
		{"every problem at once", []string{"--url", "ftp://h", "--senders", "0", "--timeout", "0s", "--open-registration"}, "--timeout"},
		{"remote server", []string{"--url", "http://a", "--remote-url", "http://b/", "--open-registration", "--remote-pid", "7"}, ""},
		{"remote shared secret", []string{"--url", "http://a", "--remote-url", "http://b", "--register-shared-secret", "x", "--remote-register-shared-secret", "y"}, ""},
		{"bad remote url", []string{"--url", "http://a", "--remote-url", "b", "--open-registration"}, "--remote-url"},
		{"remote pid without remote", []string{"--url", "http://a", "--open-registration", "--remote-pid", "7"}, "need --remote-url"},
		{"remote secret with open registration", []string{"--url", "http://a", "--remote-url", "http://b", "--open-registration", "--remote-register-shared-secret", "y"}, "not --open-registration"},
		{"remote without syncers", []string{"--url", "http://a", "--remote-url", "http://b", "--open-registration", "--syncers", "0"}, "at least one syncer"},
		{"too many messages", []string{"--url", "http://h", "--open-registration", "--senders", "1000", "--messages", "1001"}, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("parseFlags(%q) = %v", tc.args, err)
				}
				if cfg.Senders != 5 || cfg.Messages != 40 || cfg.Syncers != 5 || strings.HasSuffix(cfg.URL, "/") || strings.HasSuffix(cfg.RemoteURL, "/") {
					t.Errorf("parseFlags(%q) = %+v, want defaults 5/40/5 and no trailing slash", tc.args, cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseFlags(%q) = %v, want an error with %q", tc.args, err, tc.wantErr)
			}
		})
	}
}

func TestHelpSaysWhatItMeasures(t *testing.T) {
	var out bytes.Buffer
	if _, _, err := parseFlags([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseFlags(--help) = %v", err)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	for _, want := range []string{"measures", "messages per second", "/sync"} {
		if !strings.Contains(first, want) {
			t.Errorf("first line of --help %q does not say %q", first, want)
		}
	}
	if strings.Count(first, ". ") > 0 {
		t.Errorf("first line of --help is more than one sentence: %q", first)
	}
}

func TestParseFlagsReceipts(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--url", "http://h", "--open-registration"}, false},
		{[]string{"--url", "http://h", "--open-registration", "--receipts"}, true},
	} {
		cfg, _, err := parseFlags(tc.args, io.Discard)
		if err != nil || cfg.Receipts != tc.want {
			t.Errorf("parseFlags(%q) = receipts %v, %v; want %v", tc.args, cfg.Receipts, err, tc.want)
		}
	}
	cfg, _, err := parseFlags([]string{"--url", "http://h", "--open-registration", "--receipts", "--receipt-interval", "500ms"}, io.Discard)
	if err != nil || cfg.ReceiptInterval != 500*time.Millisecond {
		t.Errorf("parseFlags(--receipt-interval 500ms) = %v, %v; want 500ms", cfg.ReceiptInterval, err)
	}
	for _, args := range [][]string{
		{"--url", "http://h", "--open-registration", "--receipt-interval", "500ms"},
		{"--url", "http://h", "--open-registration", "--receipts", "--receipt-interval", "-1s"},
	} {
		if _, _, err := parseFlags(args, io.Discard); err == nil || !strings.Contains(err.Error(), "--receipt-interval") {
			t.Errorf("parseFlags(%q) = %v, want an error about --receipt-interval", args, err)
		}
	}
}
