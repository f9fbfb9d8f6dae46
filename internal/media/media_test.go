package media

import (
	"bytes"
	"context"
	"errors"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/media/mediatest"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// newService returns a service on a fresh store at dsn and files in
// t.TempDir().
func newService(t *testing.T, dsn string) (*Service, string) {
	t.Helper()
	return newServiceTB(t, dsn)
}

func newServiceTB(t testing.TB, dsn string) (*Service, string) {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir := t.TempDir()
	return &Service{ServerName: "hafen.test", DB: db, Files: DirFiles{Root: dir}, PollInterval: time.Millisecond}, dir
}

func TestDirFilesStoresContentOnceAndNothingWhenTooLarge(t *testing.T) {
	ctx := context.Background()
	d := DirFiles{Root: t.TempDir()}
	sum1, n, err := d.Put(ctx, strings.NewReader("hello"), 10)
	if err != nil || n != 5 {
		t.Fatalf("Put = %s, %d, %v", sum1, n, err)
	}
	sum2, _, err := d.Put(ctx, strings.NewReader("hello"), 10)
	if err != nil || sum2 != sum1 {
		t.Fatalf("second Put = %s, %v, want %s", sum2, err, sum1)
	}
	if _, _, err := d.Put(ctx, strings.NewReader("more than ten bytes"), 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of 19 bytes with limit 10: err = %v, want ErrTooLarge", err)
	}
	var files []string
	filepath.WalkDir(d.Root, func(p string, e os.DirEntry, _ error) error {
		if !e.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 || filepath.Base(files[0]) != sum1 {
		t.Fatalf("files = %v, want only the one of %s (no temp file left)", files, sum1)
	}
	f, err := d.Open(ctx, sum1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if string(got) != "hello" {
		t.Fatalf("content = %q", got)
	}
	if _, err := d.Open(ctx, "../../etc/passwd"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a path: err = %v, want ErrNotFound", err)
	}
}

// TestOrphanFileIsInvisible: a file written without its row (a crash
// between the two) is not reachable by any media ID.
func TestOrphanFileIsInvisible(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		s, _ := newService(t, dsn)
		ctx := context.Background()
		if _, _, err := s.Files.(DirFiles).Put(ctx, strings.NewReader("orphan"), 100); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "hafen.test", "orphan", 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get = %v, want ErrNotFound", err)
		}
	})
}

func TestPickSize(t *testing.T) {
	for _, tc := range []struct {
		w, h   int
		method string
		want   thumbSize
	}{
		{32, 32, MethodCrop, thumbSize{32, 32, MethodCrop}},
		{64, 64, MethodCrop, thumbSize{96, 96, MethodCrop}},
		{300, 200, MethodScale, thumbSize{320, 240, MethodScale}},
		{5000, 5000, MethodScale, thumbSize{800, 600, MethodScale}},
		{1, 1, MethodScale, thumbSize{32, 32, MethodScale}},
	} {
		if got := pickSize(tc.w, tc.h, tc.method); got != tc.want {
			t.Errorf("pickSize(%d, %d, %s) = %v, want %v", tc.w, tc.h, tc.method, got, tc.want)
		}
	}
}

func TestResize(t *testing.T) {
	src := testImage(1000, 500)
	for _, tc := range []struct {
		size thumbSize
		w, h int
	}{
		{thumbSize{800, 600, MethodScale}, 800, 400},
		{thumbSize{96, 96, MethodCrop}, 96, 96},
		{thumbSize{320, 240, MethodCrop}, 320, 240},
	} {
		b := resize(src, tc.size).Bounds()
		if b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("resize 1000×500 to %v = %d×%d, want %d×%d", tc.size, b.Dx(), b.Dy(), tc.w, tc.h)
		}
	}
	small := resize(testImage(20, 10), thumbSize{800, 600, MethodScale}).Bounds()
	if small.Dx() != 20 || small.Dy() != 10 {
		t.Errorf("resize 20×10 to 800×600 = %v, want no enlargement", small)
	}
}

// TestThumbnailsOfEveryFormat uploads each supported format and checks
// that the pre-generated and on-demand thumbnails decode at the right
// size.
func TestThumbnailsOfEveryFormat(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		s, _ := newService(t, dsn)
		ctx := context.Background()
		for _, format := range []string{"jpeg", "png", "gif", "webp"} {
			t.Run(format, func(t *testing.T) {
				data := encodeImage(t, format, 400, 300)
				m, err := s.Upload(ctx, "@a:hafen.test", Upload{ContentType: "image/" + format, Body: bytes.NewReader(data)})
				if err != nil {
					t.Fatal(err)
				}
				have, err := s.DB.Thumbnails(ctx, "hafen.test", m.MediaID)
				if err != nil || len(have) != pregenerated {
					t.Fatalf("pre-generated thumbnails = %v, %v, want %d", have, err, pregenerated)
				}
				cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				th, f, err := s.Thumbnail(ctx, "hafen.test", m.MediaID, 90, 90, MethodCrop, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				got, _, err := image.DecodeConfig(f)
				if err != nil {
					t.Fatalf("thumbnail does not decode: %v", err)
				}
				want := min(96, cfg.Width, cfg.Height)
				if got.Width != want || got.Height != want || th.Width != 96 {
					t.Fatalf("crop thumbnail = %d×%d (%v), want %d×%d", got.Width, got.Height, th, want, want)
				}
			})
		}
	})
}

// TestDecompressionBombRefused: a PNG of a few hundred bytes declaring
// 50,000×50,000 pixels (10 GB decoded) is refused from its header, without
// allocating its pixels.
func TestDecompressionBombRefused(t *testing.T) {
	s, _ := newService(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	bomb := mediatest.BombPNG(50000, 50000)
	m, err := s.Upload(ctx, "@a:hafen.test", Upload{ContentType: "image/png", Body: bytes.NewReader(bomb)})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err = s.Thumbnail(ctx, "hafen.test", m.MediaID, 96, 96, MethodCrop, 0)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrImageTooLarge) {
		t.Fatalf("Thumbnail of the bomb: err = %v, want ErrImageTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("refusing the bomb allocated %d bytes", grew)
	}
}

func TestMalformedImageIsNotAnImage(t *testing.T) {
	s, _ := newService(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	truncated := encodeImage(t, "png", 100, 100)[:60]
	for _, body := range [][]byte{[]byte("not an image at all"), truncated} {
		m, err := s.Upload(ctx, "@a:hafen.test", Upload{ContentType: "image/png", Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Thumbnail(ctx, "hafen.test", m.MediaID, 32, 32, MethodCrop, 0); !errors.Is(err, ErrNotImage) {
			t.Fatalf("Thumbnail of %q: err = %v, want ErrNotImage", body[:8], err)
		}
	}
}

// TestProgressiveJPEGCountsFourTimes: a progressive JPEG, which holds all
// its coefficients while decoding, counts four times its pixels against
// MaxImagePixels.
func TestProgressiveJPEGCountsFourTimes(t *testing.T) {
	s, _ := newService(t, storetest.SQLiteDSN(t))
	s.MaxImagePixels = 100 * 100 * 2
	ctx := context.Background()
	baseline := encodeImage(t, "jpeg", 100, 100)
	sof := bytes.Index(baseline, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no SOF0 marker in the encoded JPEG")
	}
	progressive := bytes.Clone(baseline)
	progressive[sof+1] = 0xc2
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"baseline", baseline, nil},
		{"progressive", progressive, ErrImageTooLarge},
	} {
		m, err := s.Upload(ctx, "@a:hafen.test", Upload{ContentType: "image/jpeg", Body: bytes.NewReader(tc.data)})
		if err != nil {
			t.Fatal(err)
		}
		_, f, err := s.Thumbnail(ctx, "hafen.test", m.MediaID, 32, 32, MethodCrop, 0)
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: Thumbnail err = %v, want %v", tc.name, err, tc.wantErr)
		}
		if f != nil {
			f.Close()
		}
	}
}
