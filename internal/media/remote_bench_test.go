package media

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/textproto"
	"testing"
)

// BenchmarkRemoteFetch measures fetching 1 MiB of another server's media
// into the cache (multipart parsing, staging with SHA-256 and fsync, the
// row) against serving it once cached (a row read).
func BenchmarkRemoteFetch(b *testing.B) {
	data := make([]byte, 1<<20)
	rand.Read(data)
	s, _ := newBenchService(b)
	fed := &fakeFed{answer: func(string) (*http.Response, error) {
		return multipartAnswer(textproto.MIMEHeader{"Content-Type": {"application/octet-stream"}}, string(data)), nil
	}}
	s.Remote = FederationFetcher{Client: fed}
	ctx := context.Background()
	b.Run("first", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		i := 0
		for b.Loop() {
			i++
			if _, err := s.Get(ctx, "other.example", fmt.Sprintf("m%d", i), 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Get(ctx, "other.example", "m1", 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
