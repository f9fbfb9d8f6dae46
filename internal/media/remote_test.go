package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// fakeFed answers federation media requests from a map of paths.
type fakeFed struct {
	mu    sync.Mutex
	calls []string
	// answer returns the response to a path (federation or legacy).
	answer func(path string) (*http.Response, error)
	urls   map[string]string
}

func (f *fakeFed) Stream(_ context.Context, req federation.Request) (*http.Response, error) {
	f.mu.Lock()
	f.calls = append(f.calls, req.Path)
	f.mu.Unlock()
	return f.answer(req.Path)
}

func (f *fakeFed) GetURL(_ context.Context, u string) (*http.Response, error) {
	body, ok := f.urls[u]
	if !ok {
		return nil, &federation.HTTPError{Status: 404}
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader(body))}, nil
}

// multipartAnswer builds a federation media answer.
func multipartAnswer(second textproto.MIMEHeader, body string) *http.Response {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	p, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	p.Write([]byte("{}"))
	p, _ = mw.CreatePart(second)
	p.Write([]byte(body))
	mw.Close()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"multipart/mixed; boundary=" + mw.Boundary()}},
		Body: io.NopCloser(&buf)}
}

func plainAnswer(ct, disp, body string) *http.Response {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {ct}, "Content-Disposition": {disp}},
		Body: io.NopCloser(strings.NewReader(body))}
}

func unrecognizedErr() error {
	return fmt.Errorf("GET: %w", &federation.HTTPError{Status: 404, Errcode: "M_UNRECOGNIZED"})
}

func readMedia(t *testing.T, s *Service, m store.Media) string {
	t.Helper()
	f, err := s.Open(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	return string(b)
}

// TestRemoteMediaFetch covers the three ways another server answers
// (bytes, a Location, the legacy endpoint for servers without the
// federation ones), allow_remote=false, the size limit and quarantine.
func TestRemoteMediaFetch(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, _ := newService(t, dsn)
		fed := &fakeFed{urls: map[string]string{"https://cdn.example/abc": "from the location"}}
		fed.answer = func(path string) (*http.Response, error) {
			switch path {
			case "/_matrix/federation/v1/media/download/inline":
				return multipartAnswer(textproto.MIMEHeader{"Content-Type": {"text/plain"}, "Content-Disposition": {`inline; filename="a.txt"`}}, "inline bytes"), nil
			case "/_matrix/federation/v1/media/download/located":
				return multipartAnswer(textproto.MIMEHeader{"Location": {"https://cdn.example/abc"}}, ""), nil
			case "/_matrix/federation/v1/media/download/oddtype":
				return multipartAnswer(textproto.MIMEHeader{"Content-Type": {"not a type"}, "Content-Disposition": {"attachment; filename=\"" + strings.Repeat("n", 300) + "\""}}, "odd"), nil
			case "/_matrix/federation/v1/media/download/big":
				return multipartAnswer(textproto.MIMEHeader{"Content-Type": {"text/plain"}}, strings.Repeat("x", 200)), nil
			case "/_matrix/media/v3/download/old.example/legacy?allow_remote=false":
				return plainAnswer("text/plain", `attachment; filename="old.txt"`, "legacy bytes"), nil
			}
			if strings.HasPrefix(path, "/_matrix/federation/v1/") && strings.Contains(path, "legacy") {
				return nil, unrecognizedErr()
			}
			return nil, fmt.Errorf("GET: %w", &federation.HTTPError{Status: 404, Errcode: "M_NOT_FOUND"})
		}
		s.Remote = FederationFetcher{Client: fed}
		s.MaxRemoteSize = 100

		// allow_remote=false fetches nothing.
		if _, err := s.Lookup(ctx, "new.example", "inline", 0, false); !errors.Is(err, ErrNotFound) || len(fed.calls) != 0 {
			t.Fatalf("Lookup without remote = %v after %v, want ErrNotFound and no request", err, fed.calls)
		}
		m, err := s.Get(ctx, "new.example", "inline", 0)
		if err != nil || m.ContentType != "text/plain" || m.UploadName != "a.txt" || readMedia(t, s, m) != "inline bytes" {
			t.Fatalf("inline remote media = %+v, %v", m, err)
		}
		m, err = s.Get(ctx, "new.example", "oddtype", 0)
		if err != nil || m.ContentType != "application/octet-stream" || m.UploadName != "" {
			t.Fatalf("remote media with a malformed type and a long name = %+v, %v", m, err)
		}
		m, err = s.Get(ctx, "new.example", "located", 0)
		if err != nil || readMedia(t, s, m) != "from the location" {
			t.Fatalf("located remote media = %+v, %v", m, err)
		}
		m, err = s.Get(ctx, "old.example", "legacy", 0)
		if err != nil || m.UploadName != "old.txt" || readMedia(t, s, m) != "legacy bytes" {
			t.Fatalf("legacy remote media = %+v, %v (calls %v)", m, err, fed.calls)
		}
		if _, err := s.Get(ctx, "new.example", "big", 0); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("remote media over the limit: err = %v, want ErrTooLarge", err)
		}
		if _, err := s.Get(ctx, "new.example", "missing", 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing remote media: err = %v, want ErrNotFound", err)
		}
		// The failure is remembered for a while: a client retrying does
		// not make the other server answer again.
		before := len(fed.calls)
		if _, err := s.Get(ctx, "new.example", "missing", 0); !errors.Is(err, ErrNotFound) || len(fed.calls) != before {
			t.Fatalf("missing remote media again: err = %v, %d more requests, want ErrNotFound and none", err, len(fed.calls)-before)
		}
		later := time.Now().Add(failureTTL + time.Second)
		s.Now = func() time.Time { return later }
		if _, err := s.Get(ctx, "new.example", "missing", 0); !errors.Is(err, ErrNotFound) || len(fed.calls) != before+1 {
			t.Fatalf("missing remote media after %v: err = %v, %d more requests, want 1", failureTTL, err, len(fed.calls)-before)
		}
		s.Now = nil
		// Cached: served without asking again, with allow_remote=false too.
		n := len(fed.calls)
		if _, err := s.Lookup(ctx, "new.example", "inline", 0, false); err != nil || len(fed.calls) != n {
			t.Fatalf("cached remote media = %v, %d requests, want none", err, len(fed.calls)-n)
		}
		if err := s.Quarantine(ctx, "new.example", "inline", true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "new.example", "inline", 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("quarantined remote media: err = %v, want ErrNotFound", err)
		}
		if err := s.Quarantine(ctx, "new.example", "never", true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "new.example", "never", 0); !errors.Is(err, ErrNotFound) || len(fed.calls) != n {
			t.Fatalf("quarantined uncached media: err = %v, %d requests", err, len(fed.calls)-n)
		}
		for _, bad := range [][2]string{{"bad server!", "x"}, {"new.example", "a b"}, {"new.example", ""}, {"new.example", strings.Repeat("a", 256)}} {
			if _, err := s.Get(ctx, id.ServerName(bad[0]), bad[1], 0); !errors.Is(err, ErrNotFound) || len(fed.calls) != n {
				t.Fatalf("Get(%q, %q): err = %v, %d requests, want ErrNotFound and none", bad[0], bad[1], err, len(fed.calls)-n)
			}
		}

		// Purged with its file (nothing else shares it), fetched again
		// when asked for.
		located, _ := s.DB.Media(ctx, "new.example", "located")
		p, err := s.PurgeRemote(ctx, time.Now().Add(time.Hour), true)
		if err != nil || p.Media != 3 {
			t.Fatalf("PurgeRemote = %+v, %v, want 3 media (the quarantined one stays)", p, err)
		}
		if _, err := s.Open(ctx, located); !errors.Is(err, ErrNotFound) {
			t.Fatalf("purged file still there: %v", err)
		}
		if m, err := s.Get(ctx, "new.example", "located", 0); err != nil || readMedia(t, s, m) != "from the location" || len(fed.calls) != n+1 {
			t.Fatalf("refetch after purge = %+v, %v", m, err)
		}
	})
}

// TestRemoteMediaFetchedOnce: concurrent requests for one remote file
// share one fetch.
func TestRemoteMediaFetchedOnce(t *testing.T) {
	storetest.ForEachDSN(t, testRemoteMediaFetchedOnce)
}

func testRemoteMediaFetchedOnce(t *testing.T, dsn string) {
	ctx := context.Background()
	s, _ := newService(t, dsn)
	release := make(chan struct{})
	var fetches atomic.Int32
	fed := &fakeFed{}
	fed.answer = func(path string) (*http.Response, error) {
		fetches.Add(1)
		<-release
		return multipartAnswer(textproto.MIMEHeader{"Content-Type": {"text/plain"}}, "shared"), nil
	}
	s.Remote = FederationFetcher{Client: fed}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := s.Get(ctx, "other.example", "m1", 0)
			if err == nil && m.Size != 6 {
				err = fmt.Errorf("size %d", m.Size)
			}
			errs <- err
		}()
	}
	// Wait until one request fetches and the others wait for it.
	for s.fetches.waiting("download other.example/m1") != n-1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := fetches.Load(); got != 1 {
		t.Fatalf("%d fetches for %d concurrent requests, want 1", got, n)
	}
}

func TestUnreachableServerRemembered(t *testing.T) {
	storetest.ForEachDSN(t, testUnreachableServerRemembered)
}

// testUnreachableServerRemembered checks that a server that did not
// answer at all is not asked again for other media within failureTTL,
// that a server answering with an HTTP error for one file still serves
// its others, that other servers are unaffected, and that the server is
// asked again once failureTTL has passed.
func testUnreachableServerRemembered(t *testing.T, dsn string) {
	ctx := context.Background()
	s, _ := newService(t, dsn)
	fed := &fakeFed{}
	down := true
	fed.answer = func(path string) (*http.Response, error) {
		switch {
		case strings.HasSuffix(path, "/down1"), strings.HasSuffix(path, "/down2"):
			if down {
				return nil, errors.New("dial tcp: connection refused")
			}
			return multipartAnswer(textproto.MIMEHeader{"Content-Type": {"text/plain"}}, "back"), nil
		case strings.HasSuffix(path, "/broken"):
			return nil, fmt.Errorf("GET: %w", &federation.HTTPError{Status: 500, Errcode: "M_UNKNOWN"})
		}
		return multipartAnswer(textproto.MIMEHeader{"Content-Type": {"text/plain"}}, "fine"), nil
	}
	s.Remote = FederationFetcher{Client: fed}
	calls := func() int {
		fed.mu.Lock()
		defer fed.mu.Unlock()
		return len(fed.calls)
	}

	if _, err := s.Get(ctx, "down.example", "down1", 0); !errors.Is(err, ErrRemoteUnavailable) {
		t.Fatalf("media of an unreachable server: err = %v, want ErrRemoteUnavailable", err)
	}
	before := calls()
	if _, err := s.Get(ctx, "down.example", "down2", 0); !errors.Is(err, ErrRemoteUnavailable) || calls() != before {
		t.Fatalf("other media of the unreachable server: err = %v, %d requests, want ErrRemoteUnavailable and none", err, calls()-before)
	}
	if _, err := s.Get(ctx, "up.example", "ok", 0); err != nil {
		t.Fatalf("media of another server: %v", err)
	}
	if _, err := s.Get(ctx, "half.example", "broken", 0); !errors.Is(err, ErrRemoteUnavailable) {
		t.Fatalf("media answered with 500: err = %v, want ErrRemoteUnavailable", err)
	}
	if _, err := s.Get(ctx, "half.example", "fine", 0); err != nil {
		t.Fatalf("other media of a server that answered 500 for one file: %v", err)
	}

	down = false
	later := time.Now().Add(failureTTL + time.Second)
	s.Now = func() time.Time { return later }
	if m, err := s.Get(ctx, "down.example", "down2", 0); err != nil || readMedia(t, s, m) != "back" {
		t.Fatalf("media of the server after failureTTL = %+v, %v", m, err)
	}
}
