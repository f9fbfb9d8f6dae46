package media

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// filesUnder lists the files under dir (relative names).
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// TestSweepRemovesOrphansAndExpiredReservations: what a crash between a
// file's write and its row leaves (a file without a row, a staged temp
// file) is never visible to clients and is removed by the janitor once
// its grace has passed, with expired reservations; files with rows stay.
func TestSweepRemovesOrphansAndExpiredReservations(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		s, dir := newService(t, dsn)
		ctx := context.Background()
		now := time.Now()
		s.Now = func() time.Time { return now }

		kept, err := s.Upload(ctx, "@a:hafen.test", Upload{ContentType: "text/plain", Body: strings.NewReader("kept")})
		if err != nil {
			t.Fatal(err)
		}
		// The crash: content written and in place, its row never written.
		orphan, _, err := s.Files.(DirFiles).Put(ctx, strings.NewReader("orphan"), 100)
		if err != nil {
			t.Fatal(err)
		}
		// A crash while the content was being staged.
		if _, err := s.Files.Stage(ctx, strings.NewReader("half"), 100); err != nil {
			t.Fatal(err)
		}
		res, err := s.Create(ctx, "@a:hafen.test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "hafen.test", orphan, 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get by the orphan's sum = %v, want ErrNotFound", err)
		}

		// Within the grace period nothing goes: an upload may be between
		// its file and its row.
		if r, err := s.Sweep(ctx, time.Hour); err != nil || r.Orphans != 0 || r.Reservations != 0 {
			t.Fatalf("early Sweep = %+v, %v, want nothing removed", r, err)
		}
		if n := len(filesUnder(t, dir)); n != 3 {
			t.Fatalf("files after the early sweep = %v", filesUnder(t, dir))
		}

		now = now.Add(DefaultUnusedExpiry + 2*time.Hour)
		r, err := s.Sweep(ctx, time.Hour)
		if err != nil || r.Orphans != 1 || r.Reservations != 1 {
			t.Fatalf("Sweep = %+v, %v, want 1 orphan and 1 reservation", r, err)
		}
		want := []string{filepath.Join(kept.SHA256[:2], kept.SHA256[2:4], kept.SHA256)}
		if got := filesUnder(t, dir); !slices.Equal(got, want) {
			t.Fatalf("files after the sweep = %v, want %v", got, want)
		}
		if _, err := s.DB.Media(ctx, "hafen.test", res.MediaID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired reservation's row: err = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, "hafen.test", kept.MediaID, 0); err != nil {
			t.Fatalf("kept media: %v", err)
		}
	})
}

// TestDeleteKeepsSharedFiles: deleting a media ID removes its file only
// when no other media ID has the same content.
func TestDeleteKeepsSharedFiles(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		s, dir := newService(t, dsn)
		ctx := context.Background()
		var ids []string
		for range 2 {
			m, err := s.Upload(ctx, "@a:hafen.test", Upload{ContentType: "text/plain", Body: strings.NewReader("same")})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.MediaID)
		}
		if err := s.Delete(ctx, "hafen.test", ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "hafen.test", ids[0], 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted media: err = %v", err)
		}
		m, err := s.Get(ctx, "hafen.test", ids[1], 0)
		if err != nil {
			t.Fatal(err)
		}
		if f, err := s.Open(ctx, m); err != nil {
			t.Fatalf("shared file removed: %v", err)
		} else {
			f.Close()
		}
		if err := s.Delete(ctx, "hafen.test", ids[1]); err != nil {
			t.Fatal(err)
		}
		if got := filesUnder(t, dir); len(got) != 0 {
			t.Fatalf("files after both deletions = %v", got)
		}
		if err := s.Delete(ctx, "hafen.test", ids[1]); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Delete: err = %v, want ErrNotFound", err)
		}
		if _, err := os.Stat(dir); err != nil {
			t.Fatal(err)
		}
	})
}
