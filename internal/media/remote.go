package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
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

// getRemote returns another server's media from the cache, fetching it
// first when it is not there and allowRemote is set.
func (s *Service) getRemote(ctx context.Context, server id.ServerName, mediaID string, wait time.Duration, allowRemote bool) (store.Media, error) {
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
	return s.fetches.do(ctx, "download "+string(server)+"/"+mediaID, func() (store.Media, error) {
		return s.fetchRemote(ctx, server, mediaID)
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
		return store.Media{}, fmt.Errorf("fetch media %s/%s: %w", server, mediaID, err)
	}
	defer rf.Body.Close()
	st, err := s.Files.Stage(ctx, rf.Body, s.maxRemote())
	if err != nil {
		return store.Media{}, fmt.Errorf("fetch media %s/%s: %w", server, mediaID, err)
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
	s.logger().Debug("remote media cached", "origin", server, "media_id", mediaID, "size", m.Size)
	return m, nil
}

// remoteThumbnail returns a thumbnail of another server's media: cached,
// made here from the cached original, or fetched from the other server
// (and cached) when the original is not here.
func (s *Service) remoteThumbnail(ctx context.Context, server id.ServerName, mediaID string, size thumbSize, wait time.Duration, allowRemote bool) (store.Thumbnail, io.ReadSeekCloser, error) {
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
		return store.Media{}, s.fetchRemoteThumbnail(ctx, server, mediaID, size)
	})
	if errors.Is(err, ErrNotImage) || errors.Is(err, ErrTooLarge) {
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
		return fmt.Errorf("fetch thumbnail of %s/%s: %w", server, mediaID, err)
	}
	defer rf.Body.Close()
	if !thumbnailable(rf.ContentType) {
		return fmt.Errorf("thumbnail of %s/%s has type %q: %w", server, mediaID, rf.ContentType, ErrNotImage)
	}
	st, err := s.Files.Stage(ctx, rf.Body, s.maxRemote())
	if err != nil {
		return fmt.Errorf("fetch thumbnail of %s/%s: %w", server, mediaID, err)
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
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one running fetch.
type flight struct {
	done    chan struct{}
	waiters int // guarded by flights.mu
	m       store.Media
	err     error
}

// waiting returns how many requests wait for the fetch under key.
func (f *flights) waiting(key string) int {
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
func (f *flights) do(ctx context.Context, key string, fn func() (store.Media, error)) (store.Media, error) {
	f.mu.Lock()
	if fl, ok := f.m[key]; ok {
		fl.waiters++
		f.mu.Unlock()
		select {
		case <-fl.done:
			return fl.m, fl.err
		case <-ctx.Done():
			return store.Media{}, ctx.Err()
		}
	}
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	fl := &flight{done: make(chan struct{})}
	f.m[key] = fl
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
		close(fl.done)
	}()
	fl.m, fl.err = fn()
	return fl.m, fl.err
}
