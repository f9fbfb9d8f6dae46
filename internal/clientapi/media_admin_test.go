package clientapi

import (
	"bytes"
	"context"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// TestMediaAdmin: a server administrator quarantines media (404
// M_NOT_FOUND on every endpoint until lifted) and deletes it; other users
// get 403 M_FORBIDDEN.
func TestMediaAdmin(t *testing.T) {
	forEachMediaEnv(t, 1<<20, nil, func(t *testing.T, e *mediaEnv) {
		admin := e.token("root")
		if err := e.db.Write(context.Background(), func(tx *store.Tx) error {
			return tx.SetAdmin(context.Background(), id.UserID("@root:hafen.test"), true)
		}); err != nil {
			t.Fatal(err)
		}
		alice := e.token("alice")
		_, mediaID := e.upload(alice, "text/plain", "", []byte("naughty"))
		download := "/_matrix/client/v1/media/download/hafen.test/" + mediaID
		wantStatus(t, e.send("GET", download, alice, nil, nil), 200, "")

		quarantine := "/_synapse/admin/v1/media/quarantine/hafen.test/" + mediaID
		wantStatus(t, e.send("POST", quarantine, alice, nil, nil), 403, "M_FORBIDDEN")
		wantStatus(t, e.send("POST", quarantine, "", nil, nil), 401, "M_MISSING_TOKEN")
		wantStatus(t, e.send("POST", quarantine, admin, nil, nil), 200, "")
		wantStatus(t, e.send("GET", download, alice, nil, nil), 404, "M_NOT_FOUND")
		wantStatus(t, e.send("GET", "/_matrix/media/v3/download/hafen.test/"+mediaID, "", nil, nil), 404, "M_NOT_FOUND")
		wantStatus(t, e.send("GET", "/_matrix/client/v1/media/thumbnail/hafen.test/"+mediaID+"?width=32&height=32", alice, nil, nil), 404, "M_NOT_FOUND")
		wantStatus(t, e.send("POST", "/_synapse/admin/v1/media/unquarantine/hafen.test/"+mediaID, admin, nil, nil), 200, "")
		if body := wantStatus(t, e.send("GET", download, alice, nil, nil), 200, ""); !bytes.Equal(body, []byte("naughty")) {
			t.Fatalf("download after the quarantine was lifted = %q", body)
		}

		del := "/_synapse/admin/v1/media/hafen.test/" + mediaID
		wantStatus(t, e.send("DELETE", del, alice, nil, nil), 403, "M_FORBIDDEN")
		if body := wantStatus(t, e.send("DELETE", del, admin, nil, nil), 200, ""); !bytes.Contains(body, []byte(`"deleted_media":["`+mediaID+`"]`)) {
			t.Fatalf("delete answer = %s", body)
		}
		wantStatus(t, e.send("GET", download, alice, nil, nil), 404, "M_NOT_FOUND")
		wantStatus(t, e.send("DELETE", del, admin, nil, nil), 404, "M_NOT_FOUND")
	})
}

// TestMediaQuota: with a per-user quota, an upload that would take the
// user past it is refused with 403 M_FORBIDDEN (the spec's answer for a
// quota) and stores nothing; other users keep their own quota.
func TestMediaQuota(t *testing.T) {
	forEachMediaEnv(t, 1<<20, func(s *Server) { s.Media.Quota = 10 }, func(t *testing.T, e *mediaEnv) {
		alice, bob := e.token("alice"), e.token("bob")
		e.upload(alice, "text/plain", "", []byte("123456"))
		wantStatus(t, e.send("POST", "/_matrix/media/v3/upload", alice, bytes.NewReader([]byte("12345")), map[string]string{"Content-Type": "text/plain"}), 403, "M_FORBIDDEN")
		e.upload(alice, "text/plain", "", []byte("1234"))
		wantStatus(t, e.send("POST", "/_matrix/media/v3/upload", alice, bytes.NewReader([]byte("1")), map[string]string{"Content-Type": "text/plain"}), 403, "M_FORBIDDEN")
		e.upload(bob, "text/plain", "", []byte("1234567890"))
		if used, err := e.db.MediaUsage(context.Background(), "@alice:hafen.test"); err != nil || used != 10 {
			t.Fatalf("alice uses %d bytes, %v, want 10", used, err)
		}
	})
}
