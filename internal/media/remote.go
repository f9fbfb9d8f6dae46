package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/store"
)

// Fetcher fetches other servers' media (FederationFetcher over the
// Server-Server API). Errors wrap ErrNotFound when the other server does
// not have the media, ErrNotImage when it cannot thumbnail it and
// ErrTooLarge when it is larger than maxBytes.
type Fetcher interface {
	// Download fetches the content of a media ID.
	Download(ctx context.Context, server id.ServerName, mediaID string, maxBytes int64) (RemoteFile, error)
	// Thumbnail fetches a thumbnail of a media ID.
	Thumbnail(ctx context.Context, server id.ServerName, mediaID string, width, height int, method string, maxBytes int64) (RemoteFile, error)
}

// RemoteFile is content answered by another server. Body must be closed.
type RemoteFile struct {
	// ContentType is the content's media type as the server gave it.
	ContentType string
	// FileName is the file name of its Content-Disposition, if any.
	FileName string
	// Body is the content.
	Body io.ReadCloser
	// Legacy reports that it came from the deprecated /_matrix/media
	// endpoints (a server without the federation ones).
	Legacy bool
}

// maxRemote returns the largest remote file fetched.
func (s *Service) maxRemote() int64 {
	if s.MaxRemoteSize > 0 {
		return s.MaxRemoteSize
	}
	return s.MaxUpload()
}

// remoteContext returns the context of one fetch: it is not cancelled with
// the request that started it (other requests may wait for the same
// fetch), and ends after RemoteTimeout.
func (s *Service) remoteContext(ctx context.Context) (context.Context, context.CancelFunc) {
	t := s.RemoteTimeout
	if t <= 0 {
		t = DefaultRemoteTimeout
	}
	return context.WithTimeout(context.WithoutCancel(ctx), t)
}

// validRemote checks a remote media ID's server name and media ID before
// anything is looked up or fetched: a malformed one is media that cannot
// exist.
func validRemote(server id.ServerName, mediaID string) error {
	if _, err := id.ParseServerName(string(server)); err != nil {
		return fmt.Errorf("remote media %.80q/%.80q: %w", server, mediaID, ErrNotFound)
	}
	if mediaID == "" || len(mediaID) > 255 {
		return fmt.Errorf("remote media %s/%.80q: %w", server, mediaID, ErrNotFound)
	}
	for _, c := range mediaID {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' && c != '=' && c != '.' {
			return fmt.Errorf("remote media %s/%.80q: %w", server, mediaID, ErrNotFound)
		}
	}
	return nil
}

// getRemote returns another server's media from the cache, fetching it
// first when it is not there and allowRemote is set.
func (s *Service) getRemote(ctx context.Context, server id.ServerName, mediaID string, wait time.Duration, allowRemote bool) (store.Media, error) {
	if err := validRemote(server, mediaID); err != nil {
		return store.Media{}, err
	}
	m, err := s.DB.Media(ctx, server, mediaID)
	switch {
	case err == nil && m.Quarantined:
		return store.Media{}, fmt.Errorf("quarantined media %s/%s: %w", server, mediaID, ErrNotFound)
	case err == nil && m.Uploaded():
		return m, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return store.Media{}, err
	}
	if !allowRemote || s.Remote == nil {
		return store.Media{}, fmt.Errorf("remote media %s/%s not cached: %w", server, mediaID, ErrNotFound)
	}
	_ = wait // the other server applies its own wait; see Fetcher
	key := "download " + string(server) + "/" + mediaID
	return s.fetches.do(ctx, key, func() (m store.Media, err error) {
		err = s.fetchOnce(server, key, func() error {
			m, err = s.fetchRemote(ctx, server, mediaID)
			return err
		})
		return m, err
	})
}

// fetchRemote fetches another server's media into the cache.
func (s *Service) fetchRemote(ctx context.Context, server id.ServerName, mediaID string) (store.Media, error) {
	ctx, cancel := s.remoteContext(ctx)
	defer cancel()
	// Another request may have finished the same fetch just before this
	// one began.
	if m, err := s.DB.Media(ctx, server, mediaID); err == nil && (m.Uploaded() || m.Quarantined) {
		if m.Quarantined {
			return store.Media{}, fmt.Errorf("quarantined media %s/%s: %w", server, mediaID, ErrNotFound)
		}
		return m, nil
	}
	rf, err := s.Remote.Download(ctx, server, mediaID, s.maxRemote())
	if err != nil {
		return store.Media{}, fmt.Errorf("fetch media %s/%s: %w", server, mediaID, classifyRemote(err))
	}
	defer rf.Body.Close()
	st, err := s.Files.Stage(ctx, rf.Body, s.maxRemote())
	if err != nil {
		return store.Media{}, fmt.Errorf("fetch media %s/%s: %w", server, mediaID, classifyRemote(err))
	}
	defer st.Discard()
	m := store.Media{
		ServerName:  server,
		MediaID:     mediaID,
		ContentType: contentTypeOr(rf.ContentType),
		UploadName:  rf.FileName,
		Size:        st.Size(),
		SHA256:      st.Sum(),
		CreatedTS:   s.now().UnixMilli(),
	}
	err = s.commit(ctx, []Staged{st}, func(ctx context.Context, tx *store.Tx) error { return tx.AddMedia(ctx, m) })
	if errors.Is(err, store.ErrExists) {
		// Cached meanwhile by another process on the same database, or
		// quarantined: the row decides.
		return s.getRemote(ctx, server, mediaID, 0, false)
	}
	if err != nil {
		return store.Media{}, fmt.Errorf("cache media %s/%s: %w", server, mediaID, err)
	}
	s.logger().Debug("remote media cached", "origin", server, "media_id", mediaID, "size", m.Size, "legacy", rf.Legacy)
	return m, nil
}

// classifyRemote turns the errors of a fetch into the service's: too
// large, not found and not an image keep their meaning, and any other
// failure (a server that is down, times out or answers nonsense) is
// ErrRemoteUnavailable.
func classifyRemote(err error) error {
	switch {
	case errors.Is(err, ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrRemoteTooLarge, err)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotImage), errors.Is(err, ErrNotYetUploaded):
		return err
	}
	return fmt.Errorf("%w: %w", ErrRemoteUnavailable, err)
}

// failureTTL is how long a failed fetch of remote media is answered from
// memory: clients retrying a missing or unreachable file do not turn into
// a stream of requests to the other server.
const failureTTL = 30 * time.Second

// maxFailures bounds the failed fetches remembered.
const maxFailures = 10000

// failures remembers recent failed fetches by key. The zero value is
// ready.
type failures struct {
	mu sync.Mutex
	m  map[string]failure
}

type failure struct {
	err   error
	until time.Time
}

// get returns the remembered failure of key, if it has not expired.
func (f *failures) get(key string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok && now.Before(fl.until) {
		return fl.err
	}
	return nil
}

// add remembers a failure of key for failureTTL; when full, it first drops
// expired entries, then arbitrary ones.
func (f *failures) add(key string, err error, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]failure{}
	}
	if len(f.m) >= maxFailures {
		for k, fl := range f.m {
			if !now.Before(fl.until) || len(f.m) >= maxFailures {
				delete(f.m, k)
			}
		}
	}
	f.m[key] = failure{err: err, until: now.Add(failureTTL)}
}

// fetchOnce runs fetch for key, media of server, unless it failed within
// failureTTL, and remembers a failure that another try soon would repeat
// (not found, unavailable). A server that could not be reached at all (no
// HTTP answer) is remembered too: for failureTTL every fetch of its media
// fails at once, so that a room full of its avatars does not wait for one
// timeout each while it is down. A fetch ended by its own request's
// cancellation says nothing of the other server and is not remembered.
func (s *Service) fetchOnce(server id.ServerName, key string, fetch func() error) error {
	serverKey := "server " + string(server)
	if err := s.failed.get(serverKey, s.now()); err != nil {
		return err
	}
	if err := s.failed.get(key, s.now()); err != nil {
		return err
	}
	err := fetch()
	switch {
	case errors.Is(err, context.Canceled):
	case errors.Is(err, ErrNotFound):
		s.failed.add(key, err, s.now())
	case errors.Is(err, ErrRemoteUnavailable):
		s.failed.add(key, err, s.now())
		var he *federation.HTTPError
		if !errors.As(err, &he) {
			s.failed.add(serverKey, err, s.now())
		}
	}
	return err
}

// remoteThumbnail returns a thumbnail of another server's media: cached,
// made here from the cached original, or fetched from the other server
// (and cached) when the original is not here.
func (s *Service) remoteThumbnail(ctx context.Context, server id.ServerName, mediaID string, size thumbSize, wait time.Duration, allowRemote bool) (store.Thumbnail, io.ReadSeekCloser, error) {
	if err := validRemote(server, mediaID); err != nil {
		return store.Thumbnail{}, nil, err
	}
	m, err := s.DB.Media(ctx, server, mediaID)
	switch {
	case err == nil && m.Quarantined:
		return store.Thumbnail{}, nil, fmt.Errorf("quarantined media %s/%s: %w", server, mediaID, ErrNotFound)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return store.Thumbnail{}, nil, err
	}
	if th, f, err := s.cachedThumbnail(ctx, server, mediaID, size); err != nil || f != nil {
		return th, f, err
	}
	if err == nil && m.Uploaded() {
		return s.localThumbnail(ctx, m, size)
	}
	if !allowRemote || s.Remote == nil {
		return store.Thumbnail{}, nil, fmt.Errorf("remote media %s/%s not cached: %w", server, mediaID, ErrNotFound)
	}
	key := fmt.Sprintf("thumbnail %s/%s %dx%d %s", server, mediaID, size.width, size.height, size.method)
	_, err = s.fetches.do(ctx, key, func() (store.Media, error) {
		return store.Media{}, s.fetchOnce(server, key, func() error { return s.fetchRemoteThumbnail(ctx, server, mediaID, size) })
	})
	if errors.Is(err, ErrNotImage) || errors.Is(err, ErrRemoteTooLarge) {
		return store.Thumbnail{}, nil, err
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		// The other server could not thumbnail it for us: make the
		// thumbnail here from the original.
		s.logger().Debug("remote thumbnail not fetched", "origin", server, "media_id", mediaID, "err", err)
		m, err := s.getRemote(ctx, server, mediaID, wait, true)
		if err != nil {
			return store.Thumbnail{}, nil, err
		}
		return s.localThumbnail(ctx, m, size)
	}
	if err != nil {
		return store.Thumbnail{}, nil, err
	}
	th, f, err := s.cachedThumbnail(ctx, server, mediaID, size)
	if err == nil && f == nil {
		err = fmt.Errorf("thumbnail of %s/%s: %w", server, mediaID, ErrNotFound)
	}
	return th, f, err
}

// fetchRemoteThumbnail fetches a thumbnail of another server's media at
// one of the sizes this server makes, and records it.
func (s *Service) fetchRemoteThumbnail(ctx context.Context, server id.ServerName, mediaID string, size thumbSize) error {
	ctx, cancel := s.remoteContext(ctx)
	defer cancel()
	if _, f, err := s.cachedThumbnail(ctx, server, mediaID, size); err != nil || f != nil {
		if f != nil {
			f.Close()
		}
		return err
	}
	rf, err := s.Remote.Thumbnail(ctx, server, mediaID, size.width, size.height, size.method, s.maxRemote())
	if err != nil {
		return fmt.Errorf("fetch thumbnail of %s/%s: %w", server, mediaID, classifyRemote(err))
	}
	defer rf.Body.Close()
	if !thumbnailable(rf.ContentType) {
		return fmt.Errorf("thumbnail of %s/%s has type %q: %w", server, mediaID, rf.ContentType, ErrNotImage)
	}
	st, err := s.Files.Stage(ctx, rf.Body, s.maxRemote())
	if err != nil {
		return fmt.Errorf("fetch thumbnail of %s/%s: %w", server, mediaID, classifyRemote(err))
	}
	defer st.Discard()
	th := store.Thumbnail{Width: size.width, Height: size.height, Method: size.method, ContentType: rf.ContentType, Size: st.Size(), SHA256: st.Sum()}
	if err := s.commit(ctx, []Staged{st}, func(ctx context.Context, tx *store.Tx) error {
		return tx.AddThumbnail(ctx, server, mediaID, th)
	}); err != nil {
		return fmt.Errorf("cache thumbnail of %s/%s: %w", server, mediaID, err)
	}
	return nil
}

// flights runs one fetch per key at a time: requests for a key that is
// being fetched wait for that fetch's result instead of starting another.
// The zero value is ready.
type flights[T any] struct {
	mu sync.Mutex
	m  map[string]*flight[T]
}

// flight is one running fetch.
type flight[T any] struct {
	done    chan struct{}
	waiters int // guarded by flights.mu
	v       T
	err     error
}

// waiting returns how many requests wait for the fetch under key.
func (f *flights[T]) waiting(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok {
		return fl.waiters
	}
	return 0
}

// do runs fn under key, or waits for the run already under way. fn runs
// on the caller's goroutine and must not depend on the caller's context
// staying alive (it serves the waiters too); a waiter whose ctx ends
// stops waiting.
func (f *flights[T]) do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	f.mu.Lock()
	if fl, ok := f.m[key]; ok {
		fl.waiters++
		f.mu.Unlock()
		select {
		case <-fl.done:
			return fl.v, fl.err
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	if f.m == nil {
		f.m = map[string]*flight[T]{}
	}
	fl := &flight[T]{done: make(chan struct{})}
	f.m[key] = fl
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
		close(fl.done)
	}()
	fl.v, fl.err = fn()
	return fl.v, fl.err
}
