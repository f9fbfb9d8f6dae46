package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

const mautrixRoom = "../../../testdata/mautrix-eventauth/testroom-v12-success.jsonl"

// loadMautrixRoom reads the 21 real room v12 PDUs of the mautrix test room.
func loadMautrixRoom(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open(mautrixRoom)
	if err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 21 {
		t.Fatalf("read %d events, want 21", len(lines))
	}
	return lines
}

// wantIDAndHash returns unsigned.event_id and hashes.sha256 of a line.
func wantIDAndHash(t testing.TB, line []byte) (id.EventID, []byte) {
	t.Helper()
	var e struct {
		Hashes struct {
			SHA256 string `json:"sha256"`
		} `json:"hashes"`
		Unsigned struct {
			EventID id.EventID `json:"event_id"`
		} `json:"unsigned"`
	}
	if err := json.Unmarshal(line, &e); err != nil {
		t.Fatal(err)
	}
	h, err := signing.DecodeBase64(e.Hashes.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return e.Unsigned.EventID, h
}

func TestMautrixRoomV12(t *testing.T) {
	lines := loadMautrixRoom(t)
	var createID id.EventID
	for i, line := range lines {
		wantID, wantHash := wantIDAndHash(t, line)
		e, err := Parse(line, roomversion.V12)
		if err != nil {
			t.Fatalf("line %d: Parse: %v", i+1, err)
		}
		if e.EventID() != wantID {
			t.Errorf("line %d: EventID = %s, want %s", i+1, e.EventID(), wantID)
		}
		got, err := ComputeEventID(line, roomversion.V12)
		if err != nil || got != wantID {
			t.Errorf("line %d: ComputeEventID = %s, %v, want %s", i+1, got, err, wantID)
		}
		h, err := ContentHash(line)
		if err != nil || !bytes.Equal(h, wantHash) {
			t.Errorf("line %d: ContentHash = %x, %v, want %x", i+1, h, err, wantHash)
		}
		if err := CheckContentHash(line); err != nil {
			t.Errorf("line %d: CheckContentHash = %v", i+1, err)
		}
		if i == 0 {
			if e.Type() != "m.room.create" {
				t.Fatalf("line 1 is %s, want the create event", e.Type())
			}
			createID = e.EventID()
		}
		// v12: the room ID is the create event's ID with "!" for "$".
		if want := id.RoomID("!" + string(createID[1:])); e.RoomID() != want {
			t.Errorf("line %d: RoomID = %s, want %s", i+1, e.RoomID(), want)
		}
	}
}

// Mutation tests on the mautrix room: the reference hash (event ID) covers
// the redacted event including hashes; the content hash covers the whole
// event except unsigned, signatures and hashes.
func TestMautrixRoomMutations(t *testing.T) {
	lines := loadMautrixRoom(t)
	// Index 0 is the create event, 1 the creator's join (m.room.member).
	tests := []struct {
		name         string
		line         int
		mutate       func(o map[string]any)
		idChanges    bool
		hashMismatch bool
	}{
		{"reference hash covers origin_server_ts", 1, func(o map[string]any) { o["origin_server_ts"] = 1.0 }, true, true},
		{"reference hash covers depth", 1, func(o map[string]any) { o["depth"] = 99.0 }, true, true},
		{"reference hash covers sender", 1, func(o map[string]any) { o["sender"] = "@x:maunium.net" }, true, true},
		{"reference hash covers membership (kept by member redaction)", 1,
			func(o map[string]any) { o["content"].(map[string]any)["membership"] = "leave" }, true, true},
		{"redacted member content: displayname is covered by the content hash only", 1,
			func(o map[string]any) { o["content"].(map[string]any)["displayname"] = "other" }, false, true},
		{"create content is protected in v11+", 0,
			func(o map[string]any) { o["content"].(map[string]any)["m.federate"] = false }, true, true},
		{"unknown top-level key: redacted away, in the content hash", 1,
			func(o map[string]any) { o["extra"] = "x" }, false, true},
		{"unsigned is covered by neither", 1,
			func(o map[string]any) { o["unsigned"] = map[string]any{"age": 5.0} }, false, false},
		{"signatures are covered by neither", 1,
			func(o map[string]any) { o["signatures"] = map[string]any{} }, false, false},
		{"hashes are covered by the reference hash", 1,
			func(o map[string]any) { o["hashes"] = map[string]any{"sha256": "AAAA"} }, true, true},
		{"prev_events are covered by the reference hash", 2,
			func(o map[string]any) { o["prev_events"] = []any{} }, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := lines[tc.line]
			origID, err := ComputeEventID(orig, roomversion.V12)
			if err != nil {
				t.Fatal(err)
			}
			var o map[string]any
			if err := json.Unmarshal(orig, &o); err != nil {
				t.Fatal(err)
			}
			tc.mutate(o)
			mut, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			gotID, err := ComputeEventID(mut, roomversion.V12)
			if err != nil {
				t.Fatal(err)
			}
			if changed := gotID != origID; changed != tc.idChanges {
				t.Errorf("event ID changed = %v, want %v", changed, tc.idChanges)
			}
			err = CheckContentHash(mut)
			if mismatch := errors.Is(err, ErrHashMismatch); mismatch != tc.hashMismatch {
				t.Errorf("CheckContentHash = %v, want mismatch %v", err, tc.hashMismatch)
			}
		})
	}
}
