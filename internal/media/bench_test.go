package media

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// BenchmarkUpload stores 1 MiB uploads (file and row) on SQLite.
func BenchmarkUpload(b *testing.B) {
	s, _ := newBenchService(b)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	b.SetBytes(int64(len(data)))
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		data[0] = byte(i) // distinct content, so each upload writes a file
		data[1] = byte(i >> 8)
		if _, err := s.Upload(ctx, "@a:hafen.test", Upload{ContentType: "application/octet-stream", Body: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDownload reads a 1 MiB upload back (metadata and content).
func BenchmarkDownload(b *testing.B) {
	s, _ := newBenchService(b)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	ctx := context.Background()
	m, err := s.Upload(ctx, "@a:hafen.test", Upload{ContentType: "application/octet-stream", Body: bytes.NewReader(data)})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		got, err := s.Get(ctx, m.ServerName, m.MediaID, 0)
		if err != nil {
			b.Fatal(err)
		}
		f, err := s.Open(ctx, got)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// photo12MP is a 4000×3000 JPEG, made once.
var photo12MP []byte

func benchPhoto(b *testing.B) []byte {
	if photo12MP == nil {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, testImage(4000, 3000), &jpeg.Options{Quality: 85}); err != nil {
			b.Fatal(err)
		}
		photo12MP = buf.Bytes()
	}
	return photo12MP
}

// BenchmarkUploadPhoto12MP uploads a 12-megapixel JPEG, which includes
// generating its five pre-generated thumbnails.
func BenchmarkUploadPhoto12MP(b *testing.B) {
	s, _ := newBenchService(b)
	photo := benchPhoto(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Upload(ctx, "@a:hafen.test", Upload{ContentType: "image/jpeg", Body: bytes.NewReader(photo)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThumbnail12MP generates one thumbnail of a 12-megapixel JPEG on
// demand (decode, scale, encode, store).
func BenchmarkThumbnail12MP(b *testing.B) {
	s, _ := newBenchService(b)
	photo := benchPhoto(b)
	ctx := context.Background()
	sum, size, err := s.Files.(DirFiles).Put(ctx, bytes.NewReader(photo), int64(len(photo)))
	if err != nil {
		b.Fatal(err)
	}
	m := benchMedia(sum, size)
	photo12MP = nil
	runtime.GC()
	debug.FreeOSMemory()
	// Sample the heap in use while thumbnails are generated, to report
	// the peak a thumbnail costs.
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop, peak := make(chan struct{}), make(chan uint64)
	go func() {
		var top uint64
		var ms runtime.MemStats
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				peak <- top
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				top = max(top, ms.HeapInuse)
			}
		}
	}()
	for b.Loop() {
		if _, err := s.generate(ctx, m, []thumbSize{{640, 480, MethodCrop}}); err != nil {
			b.Fatal(err)
		}
	}
	close(stop)
	top := <-peak
	b.ReportMetric(float64(top)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(base.HeapInuse)/(1<<20), "base-heap-MB")
}

func newBenchService(b *testing.B) (*Service, string) {
	b.Helper()
	return newServiceTB(b, storetest.SQLiteDSN(b))
}

// benchMedia is the row of a stored upload that has none.
func benchMedia(sum string, size int64) store.Media {
	return store.Media{ServerName: "hafen.test", MediaID: "bench", ContentType: "image/jpeg", Size: size, SHA256: sum}
}
