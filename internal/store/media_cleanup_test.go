package store

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestMediaCleanup covers quarantine, deletion, the purge of old remote
// media and expired reservations, references and the statistics.
func TestMediaCleanup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		write := func(fn func(tx *Tx) error) {
			t.Helper()
			if err := db.Write(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		sum := func(c byte) string {
			b := make([]byte, 64)
			for i := range b {
				b[i] = c
			}
			return string(b)
		}
		rows := []Media{
			{ServerName: "here", MediaID: "local", UserID: "@a:here", ContentType: "text/plain", Size: 10, SHA256: sum('a'), CreatedTS: 1},
			{ServerName: "here", MediaID: "local2", UserID: "@a:here", ContentType: "text/plain", Size: 5, SHA256: sum('a'), CreatedTS: 1},
			{ServerName: "here", MediaID: "pending", UserID: "@a:here", CreatedTS: 1, ExpiresTS: 100},
			{ServerName: "there", MediaID: "old", ContentType: "image/png", Size: 100, SHA256: sum('b'), CreatedTS: 50},
			{ServerName: "there", MediaID: "new", ContentType: "image/png", Size: 200, SHA256: sum('c'), CreatedTS: 500},
			{ServerName: "there", MediaID: "oldq", ContentType: "image/png", Size: 300, SHA256: sum('d'), CreatedTS: 50},
		}
		write(func(tx *Tx) error {
			for _, m := range rows {
				if err := tx.AddMedia(ctx, m); err != nil {
					return err
				}
			}
			if err := tx.AddThumbnail(ctx, "there", "old", Thumbnail{Width: 32, Height: 32, Method: "crop", ContentType: "image/png", Size: 7, SHA256: sum('e')}); err != nil {
				return err
			}
			// A thumbnail fetched without its original.
			if err := tx.AddThumbnail(ctx, "there", "thumbonly", Thumbnail{Width: 32, Height: 32, Method: "crop", ContentType: "image/png", Size: 8, SHA256: sum('f')}); err != nil {
				return err
			}
			if err := tx.SetMediaQuarantined(ctx, "there", "oldq", true, 2); err != nil {
				return err
			}
			return tx.SetMediaQuarantined(ctx, "elsewhere", "never-fetched", true, 2)
		})
		if m, err := db.Media(ctx, "elsewhere", "never-fetched"); err != nil || !m.Quarantined || m.Uploaded() {
			t.Fatalf("quarantined uncached media = %+v, %v", m, err)
		}
		if u, err := db.MediaUsage(ctx, "@a:here"); err != nil || u != 15 {
			t.Fatalf("MediaUsage = %d, %v, want 15", u, err)
		}
		st, err := db.MediaStats(ctx, "here")
		if err != nil {
			t.Fatal(err)
		}
		want := MediaStats{LocalCount: 2, LocalBytes: 15, RemoteCount: 3, RemoteBytes: 600, ThumbnailCount: 2, ThumbnailBytes: 15, Pending: 1, Quarantined: 2}
		if st != want {
			t.Fatalf("MediaStats = %+v, want %+v", st, want)
		}

		var purged PurgedMedia
		write(func(tx *Tx) (err error) {
			purged, err = tx.DeleteRemoteMediaBefore(ctx, "here", 100)
			return err
		})
		slices.Sort(purged.Sums)
		if purged.Media != 1 || purged.Bytes != 115 || !slices.Equal(purged.Sums, []string{sum('b'), sum('e'), sum('f')}) {
			t.Fatalf("purge = %+v", purged)
		}
		for _, k := range []string{"old"} {
			if _, err := db.Media(ctx, "there", k); !errors.Is(err, ErrNotFound) {
				t.Errorf("purged %s: err = %v", k, err)
			}
		}
		for _, k := range []id.ServerName{"there"} {
			if ths, _ := db.Thumbnails(ctx, k, "thumbonly"); len(ths) != 0 {
				t.Errorf("thumbnail without original survived the purge: %v", ths)
			}
		}
		for _, k := range []string{"new", "oldq"} {
			if _, err := db.Media(ctx, "there", k); err != nil {
				t.Errorf("%s was purged: %v", k, err)
			}
		}
		if ref, _ := db.MediaReferenced(ctx, sum('b')); ref {
			t.Error("purged content still referenced")
		}
		if ref, _ := db.MediaReferenced(ctx, sum('a')); !ref {
			t.Error("local content not referenced")
		}

		var sums []string
		write(func(tx *Tx) (err error) {
			sums, err = tx.DeleteMedia(ctx, "here", "local")
			return err
		})
		if !slices.Equal(sums, []string{sum('a')}) {
			t.Fatalf("DeleteMedia sums = %v", sums)
		}
		if ref, _ := db.MediaReferenced(ctx, sum('a')); !ref {
			t.Error("content shared with local2 no longer referenced")
		}
		if err := db.Write(ctx, func(tx *Tx) error { _, err := tx.DeleteMedia(ctx, "here", "local"); return err }); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second DeleteMedia: err = %v, want ErrNotFound", err)
		}

		var n int64
		write(func(tx *Tx) (err error) { n, err = tx.DeleteExpiredReservations(ctx, 99); return err })
		if n != 0 {
			t.Fatalf("reservations expired before their time: %d", n)
		}
		write(func(tx *Tx) (err error) { n, err = tx.DeleteExpiredReservations(ctx, 100); return err })
		if n != 1 {
			t.Fatalf("expired reservations deleted = %d, want 1", n)
		}
		if _, err := db.Media(ctx, "elsewhere", "never-fetched"); err != nil {
			t.Fatalf("quarantine row went with the reservations: %v", err)
		}
	})
}
