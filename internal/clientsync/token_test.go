package clientsync

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestSyncTokenString(t *testing.T) {
	tests := []struct {
		name string
		tok  SyncToken
		want string
	}{
		{"only events: the form tokens had before other streams", SyncToken{Events: 42}, "s42"},
		{"the zero token", SyncToken{}, "s0"},
		{"trailing streams at 0 are left out", SyncToken{Events: 42, AccountData: 7}, "s42_7"},
		{"inner streams at 0 are kept", SyncToken{Events: 1, Typing: 3}, "s1_0_0_3"},
		{"every stream, in token order", SyncToken{1, 2, 3, 4, 5, 6, 7}, "s1_2_3_4_5_6_7"},
		{"negative positions are written as 0", SyncToken{Events: -5, Receipts: -1}, "s0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tok.String(); got != tc.want {
				t.Errorf("%+v.String() = %q, want %q", tc.tok, got, tc.want)
			}
		})
	}
}

func TestSyncTokenRoundTrip(t *testing.T) {
	for _, tok := range []SyncToken{
		{},
		{Events: 1},
		{Events: 1 << 62, AccountData: 9},
		{Events: 5, ToDevice: 2},
		{Events: 5, Presence: 2},
		{1, 2, 3, 4, 5, 6, 7},
		{Events: 9223372036854775807, DeviceLists: 9223372036854775807},
	} {
		got, err := ParseSyncToken(tok.String())
		if err != nil || got != tok {
			t.Errorf("ParseSyncToken(%q) = %+v, %v; want %+v", tok.String(), got, err, tok)
		}
	}
}

func TestParseSyncTokenOlderAndNewerForms(t *testing.T) {
	tests := []struct {
		name string
		tok  string
		want SyncToken
	}{
		{"a token from before any stream but events existed", "s42", SyncToken{Events: 42}},
		{"a token from before the streams after account data existed", "s42_3", SyncToken{Events: 42, AccountData: 3}},
		{"a token with explicit zeros", "s42_0_0_0", SyncToken{Events: 42}},
		{"a token of a later version with streams this one does not know", "s1_2_3_4_5_6_7_8_9", SyncToken{1, 2, 3, 4, 5, 6, 7}},
		{"leading zeros", "s007", SyncToken{Events: 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSyncToken(tc.tok)
			if err != nil || got != tc.want {
				t.Errorf("ParseSyncToken(%q) = %+v, %v; want %+v", tc.tok, got, err, tc.want)
			}
		})
	}
}

func TestParseSyncTokenMalformed(t *testing.T) {
	for _, tok := range []string{
		"", "s", "x", "12", "S1", "s-1", "s+1", "s 1", "s1 ", "s1_", "s_1", "s1__2", "s1_x", "s1_-2", "s1.5",
		"s99999999999999999999", "s9223372036854775808", "s1_99999999999999999999", "s\u0661", "t1-2", "s1_2" + strings.Repeat("_0", 31),
	} {
		t.Run(tok, func(t *testing.T) {
			got, err := ParseSyncToken(tok)
			if !errors.Is(err, ErrBadToken) {
				t.Errorf("ParseSyncToken(%q) = %+v, %v; want ErrBadToken", tok, got, err)
			}
		})
	}
}

func TestParsePageToken(t *testing.T) {
	tests := []struct {
		name string
		tok  string
		want PageToken
	}{
		{"topological", "t12-345", PageToken{Topological: true, Depth: 12, Stream: 345}},
		{"topological at the start", "t0-0", PageToken{Topological: true}},
		{"topological in backfilled history (negative stream position)", "t5--7", PageToken{Topological: true, Depth: 5, Stream: -7}},
		{"stream token (sync prev_batch)", "s99", PageToken{Stream: 99}},
		{"sync next_batch with several streams: its events position", "s99_4_1", PageToken{Stream: 99}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePageToken(tc.tok)
			if err != nil || got != tc.want {
				t.Errorf("ParsePageToken(%q) = %+v, %v; want %+v", tc.tok, got, err, tc.want)
			}
			if tc.want.Topological || !strings.Contains(tc.tok, "_") {
				if s := got.String(); s != tc.tok {
					t.Errorf("%+v.String() = %q, want %q", got, s, tc.tok)
				}
			}
		})
	}
	for _, tok := range []string{
		"", "t", "t5", "t-5", "t5-", "t-", "t5-x", "t5---7", "t5--", "t5--+7", "t+5-7", "t5-+7", "t5-7-8", "t5_7", "T5-7",
		"t99999999999999999999-1", "t1-99999999999999999999", "t1-9223372036854775808", "u5", "s", "s-1",
	} {
		t.Run("malformed "+tok, func(t *testing.T) {
			got, err := ParsePageToken(tok)
			if !errors.Is(err, ErrBadToken) {
				t.Errorf("ParsePageToken(%q) = %+v, %v; want ErrBadToken", tok, got, err)
			}
		})
	}
}

// TestSyncAcceptsTokensOfEveryForm: a client that stored a since token
// before more streams were added (or got one from a later version) syncs
// on from it exactly as from the token this version writes.
func TestSyncAcceptsTokensOfEveryForm(t *testing.T) {
	forEachBackend(t, testSyncAcceptsTokensOfEveryForm)
}

func testSyncAcceptsTokensOfEveryForm(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	since := h.initial(bob, nil).NextBatch
	h.send(roomID, alice, "one")
	pos := mustParse(t, since)
	want, err := json.Marshal(h.next(bob, since, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{
		SyncToken{Events: pos}.String(),
		Token(pos) + "_0",
		Token(pos) + "_0_0_0_0_0_0",
		Token(pos) + "_0_0_0_0_0_0_0_0", // a later version's, with two more streams
	} {
		t.Run(tok, func(t *testing.T) {
			got, err := json.Marshal(h.next(bob, tok, nil))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("sync since %q:\n%s\nwant (since %q):\n%s", tok, got, since, want)
			}
		})
	}
}

// BenchmarkSyncTokenRoundTrip: parsing a since token and writing a
// next_batch, which every sync does.
func BenchmarkSyncTokenRoundTrip(b *testing.B) {
	tok := Token(123456789)
	for b.Loop() {
		st, err := ParseSyncToken(tok)
		if err != nil {
			b.Fatal(err)
		}
		tok = Token(st.Events)
	}
}

// FuzzParseTokens: any input either fails with ErrBadToken or parses to a
// token whose encoding parses back to the same token.
func FuzzParseTokens(f *testing.F) {
	for _, seed := range []string{"s0", "s42", "s1_2_3_4_5_6_7_8", "s1__2", "t5-7", "t0-0", "t5--3", "t1--0", "s-1", "t", "s9223372036854775807"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		st, err := ParseSyncToken(tok)
		if err != nil && !errors.Is(err, ErrBadToken) {
			t.Fatalf("ParseSyncToken(%q) = %v, want ErrBadToken", tok, err)
		}
		if err == nil {
			if again, err := ParseSyncToken(st.String()); err != nil || again != st {
				t.Fatalf("ParseSyncToken(%q) = %+v, encoded %q parses to %+v, %v", tok, st, st.String(), again, err)
			}
		}
		pt, err := ParsePageToken(tok)
		if err != nil && !errors.Is(err, ErrBadToken) {
			t.Fatalf("ParsePageToken(%q) = %v, want ErrBadToken", tok, err)
		}
		if err == nil {
			if again, err := ParsePageToken(pt.String()); err != nil || again != pt {
				t.Fatalf("ParsePageToken(%q) = %+v, encoded %q parses to %+v, %v", tok, pt, pt.String(), again, err)
			}
		}
	})
}
