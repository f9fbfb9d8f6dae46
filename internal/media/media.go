package media

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Defaults of the Service's limits.
const (
	// DefaultMaxUploadSize is the maximum upload size when none is set.
	DefaultMaxUploadSize = 50 << 20
	// DefaultUnusedExpiry is how long a media ID reserved by Create waits
	// for its content.
	DefaultUnusedExpiry = 24 * time.Hour
	// DefaultMaxPending is how many reserved media IDs one user may hold.
	DefaultMaxPending = 10
	// DefaultMaxImagePixels is the largest image (width × height) the
	// service decodes: 40 megapixels, a little over a 12-megapixel photo's
	// three times, about 160 MB decoded at worst.
	DefaultMaxImagePixels = 40_000_000
	// DefaultThumbnailTimeout bounds the generation of one thumbnail.
	DefaultThumbnailTimeout = 20 * time.Second
	// MaxWait is the longest a download waits for a pending upload,
	// whatever timeout_ms asks for.
	MaxWait = 60 * time.Second
	// DefaultRemoteTimeout bounds one fetch of another server's media.
	DefaultRemoteTimeout = 60 * time.Second
)

// Store is what the service needs of the database. *store.DB implements it.
type Store interface {
	Write(ctx context.Context, fn func(tx *store.Tx) error) error
	Media(ctx context.Context, serverName id.ServerName, mediaID string) (store.Media, error)
	PendingMediaCount(ctx context.Context, userID id.UserID, now int64) (int, error)
	Thumbnails(ctx context.Context, serverName id.ServerName, mediaID string) ([]store.Thumbnail, error)
	MediaUsage(ctx context.Context, userID id.UserID) (int64, error)
	MediaReferenced(ctx context.Context, sum string) (bool, error)
	User(ctx context.Context, userID id.UserID) (store.User, error)
}

var _ Store = (*store.DB)(nil)

// Service is the content repository. Set its fields before use; the zero
// values of the limits mean their defaults.
type Service struct {
	// ServerName is this server's name, the authority of its mxc:// URIs.
	ServerName id.ServerName
	// DB keeps the metadata.
	DB Store
	// Files keeps the content.
	Files Files
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// MaxUploadSize is the largest upload in bytes.
	MaxUploadSize int64
	// UnusedExpiry is how long a reserved media ID waits for content.
	UnusedExpiry time.Duration
	// MaxPending is how many reserved media IDs a user may hold at once.
	MaxPending int
	// MaxImagePixels is the largest image (width × height) decoded for
	// thumbnails.
	MaxImagePixels int64
	// ThumbnailTimeout bounds one thumbnail's generation.
	ThumbnailTimeout time.Duration
	// PollInterval is how often a download waiting for a pending upload
	// looks again; 0 means 100 ms.
	PollInterval time.Duration

	// Remote fetches other servers' media; nil serves only what is
	// cached.
	Remote Fetcher
	// MaxRemoteSize is the largest remote file fetched; 0 means
	// MaxUpload().
	MaxRemoteSize int64
	// RemoteTimeout bounds one fetch of remote media; 0 means
	// DefaultRemoteTimeout.
	RemoteTimeout time.Duration

	// Quota is the most bytes one user's uploads may take in all; 0
	// means no quota.
	Quota int64

	semOnce  sync.Once
	thumbSem chan struct{}

	// refs orders making files visible against deleting unreferenced
	// ones: held shared from a file's Commit until its row is written,
	// exclusively while a file is checked for rows and removed.
	refs sync.RWMutex
	// fetches lets concurrent requests for one remote file share one
	// fetch.
	fetches flights[store.Media]
	// failed remembers recent failed fetches of remote media.
	failed failures
}

// maxConcurrentThumbnails is how many thumbnails are generated at once.
const maxConcurrentThumbnails = 2

// MaxUpload returns the maximum upload size in bytes.
func (s *Service) MaxUpload() int64 {
	if s.MaxUploadSize > 0 {
		return s.MaxUploadSize
	}
	return DefaultMaxUploadSize
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Upload is the content of an upload as the client sent it.
type Upload struct {
	// ContentType is the media type; empty means
	// application/octet-stream.
	ContentType string
	// FileName is the file name the client gave, possibly empty.
	FileName string
	// Body is the content; the service reads at most MaxUpload()+1 bytes.
	Body io.Reader
}

// newMediaID returns a random media ID: 26 upper-case letters and
// digits (130 random bits), within the spec's [A-Za-z0-9_-].
func newMediaID() string { return rand.Text() }

func contentTypeOr(ct string) string {
	if ct == "" {
		return "application/octet-stream"
	}
	return ct
}

// Upload stores new content for userID under a fresh media ID and returns
// its metadata. Thumbnails of the common sizes are generated before it
// returns when the content is an image.
func (s *Service) Upload(ctx context.Context, userID id.UserID, up Upload) (store.Media, error) {
	return s.upload(ctx, userID, up, s.MaxUpload())
}

// upload stores content under a fresh media ID for userID, within the
// user's quota; an empty userID is the server itself (no quota).
func (s *Service) upload(ctx context.Context, userID id.UserID, up Upload, limit int64) (store.Media, error) {
	if err := s.checkQuota(ctx, userID, 0); err != nil {
		return store.Media{}, err
	}
	st, err := s.Files.Stage(ctx, up.Body, limit)
	if err != nil {
		return store.Media{}, fmt.Errorf("store upload of %s: %w", userID, err)
	}
	defer st.Discard()
	if err := s.checkQuota(ctx, userID, st.Size()); err != nil {
		return store.Media{}, err
	}
	m := store.Media{
		ServerName:  s.ServerName,
		MediaID:     newMediaID(),
		UserID:      userID,
		ContentType: contentTypeOr(up.ContentType),
		UploadName:  up.FileName,
		Size:        st.Size(),
		SHA256:      st.Sum(),
		CreatedTS:   s.now().UnixMilli(),
	}
	if err := s.commit(ctx, []Staged{st}, func(ctx context.Context, tx *store.Tx) error { return tx.AddMedia(ctx, m) }); err != nil {
		return store.Media{}, fmt.Errorf("record upload of %s: %w", userID, err)
	}
	s.pregenerate(ctx, m)
	return m, nil
}

// Create reserves a media ID for userID, to be uploaded with UploadTo
// before the returned metadata's ExpiresTS. Expired reservations stop
// counting against MaxPending at once; the janitor (Sweep) removes their
// rows.
func (s *Service) Create(ctx context.Context, userID id.UserID) (store.Media, error) {
	now := s.now()
	maxPending := s.MaxPending
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	n, err := s.DB.PendingMediaCount(ctx, userID, now.UnixMilli())
	if err != nil {
		return store.Media{}, err
	}
	if n >= maxPending {
		return store.Media{}, fmt.Errorf("%s holds %d pending uploads: %w", userID, n, ErrTooManyPending)
	}
	expiry := s.UnusedExpiry
	if expiry <= 0 {
		expiry = DefaultUnusedExpiry
	}
	m := store.Media{
		ServerName:  s.ServerName,
		MediaID:     newMediaID(),
		UserID:      userID,
		ContentType: "",
		CreatedTS:   now.UnixMilli(),
		ExpiresTS:   now.Add(expiry).UnixMilli(),
	}
	if err := s.DB.Write(ctx, func(tx *store.Tx) error { return tx.AddMedia(ctx, m) }); err != nil {
		return store.Media{}, fmt.Errorf("reserve media for %s: %w", userID, err)
	}
	return m, nil
}

// UploadTo stores the content of a media ID reserved by Create. Only the
// user who reserved it may upload, once, before it expires.
func (s *Service) UploadTo(ctx context.Context, userID id.UserID, serverName id.ServerName, mediaID string, up Upload) (store.Media, error) {
	if serverName != s.ServerName {
		return store.Media{}, fmt.Errorf("upload to %s/%s: %w", serverName, mediaID, ErrNotFound)
	}
	m, err := s.DB.Media(ctx, serverName, mediaID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Media{}, fmt.Errorf("upload to %s/%s: %w", serverName, mediaID, ErrNotFound)
	}
	if err != nil {
		return store.Media{}, err
	}
	switch {
	case m.UserID != userID:
		return store.Media{}, fmt.Errorf("upload of %s to %s/%s: %w", userID, serverName, mediaID, ErrForbidden)
	case m.Uploaded():
		return store.Media{}, fmt.Errorf("upload to %s/%s: %w", serverName, mediaID, ErrCannotOverwrite)
	case m.ExpiresTS <= s.now().UnixMilli():
		return store.Media{}, fmt.Errorf("upload to expired %s/%s: %w", serverName, mediaID, ErrNotFound)
	}
	if err := s.checkQuota(ctx, userID, 0); err != nil {
		return store.Media{}, err
	}
	st, err := s.Files.Stage(ctx, up.Body, s.MaxUpload())
	if err != nil {
		return store.Media{}, fmt.Errorf("store upload to %s/%s: %w", serverName, mediaID, err)
	}
	defer st.Discard()
	if err := s.checkQuota(ctx, userID, st.Size()); err != nil {
		return store.Media{}, err
	}
	m.ContentType, m.UploadName, m.Size, m.SHA256, m.ExpiresTS = contentTypeOr(up.ContentType), up.FileName, st.Size(), st.Sum(), 0
	var done bool
	if err := s.commit(ctx, []Staged{st}, func(ctx context.Context, tx *store.Tx) error {
		var err error
		done, err = tx.CompleteMedia(ctx, m)
		return err
	}); err != nil {
		return store.Media{}, fmt.Errorf("record upload to %s/%s: %w", serverName, mediaID, err)
	}
	if !done {
		// A concurrent upload won.
		return store.Media{}, fmt.Errorf("upload to %s/%s: %w", serverName, mediaID, ErrCannotOverwrite)
	}
	s.pregenerate(ctx, m)
	return m, nil
}

// Get returns the metadata of a media ID whose content is there, waiting up
// to wait (capped at MaxWait) for a pending upload, and fetching another
// server's media over federation when it is not cached. Unknown, expired
// and quarantined media IDs fail with ErrNotFound; a pending one still
// pending after wait with ErrNotYetUploaded.
func (s *Service) Get(ctx context.Context, serverName id.ServerName, mediaID string, wait time.Duration) (store.Media, error) {
	return s.Lookup(ctx, serverName, mediaID, wait, true)
}

// Lookup is Get, with allowRemote false serving other servers' media only
// from the cache (the legacy endpoints' allow_remote=false).
func (s *Service) Lookup(ctx context.Context, serverName id.ServerName, mediaID string, wait time.Duration, allowRemote bool) (store.Media, error) {
	if serverName != s.ServerName {
		return s.getRemote(ctx, serverName, mediaID, wait, allowRemote)
	}
	wait = min(max(wait, 0), MaxWait)
	deadline := s.now().Add(wait)
	poll := s.PollInterval
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	for {
		m, err := s.DB.Media(ctx, serverName, mediaID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Media{}, fmt.Errorf("media %s/%s: %w", serverName, mediaID, ErrNotFound)
		}
		if err != nil {
			return store.Media{}, err
		}
		if m.Quarantined {
			return store.Media{}, fmt.Errorf("quarantined media %s/%s: %w", serverName, mediaID, ErrNotFound)
		}
		if m.Uploaded() {
			return m, nil
		}
		now := s.now()
		if m.ExpiresTS <= now.UnixMilli() {
			return store.Media{}, fmt.Errorf("expired media %s/%s: %w", serverName, mediaID, ErrNotFound)
		}
		if !now.Before(deadline) {
			return store.Media{}, fmt.Errorf("media %s/%s: %w", serverName, mediaID, ErrNotYetUploaded)
		}
		t := time.NewTimer(min(poll, deadline.Sub(now)))
		select {
		case <-ctx.Done():
			t.Stop()
			return store.Media{}, ctx.Err()
		case <-t.C:
		}
	}
}

// commit puts staged files in place and runs write, which records the
// rows that reference them, so that the janitor never sees one of these
// files without its row (see refs).
func (s *Service) commit(ctx context.Context, staged []Staged, write func(ctx context.Context, tx *store.Tx) error) error {
	s.refs.RLock()
	defer s.refs.RUnlock()
	for _, st := range staged {
		if err := st.Commit(); err != nil {
			return err
		}
	}
	// The write is not abandoned for a gone client: the files are in
	// place.
	ctx = context.WithoutCancel(ctx)
	return s.DB.Write(ctx, func(tx *store.Tx) error { return write(ctx, tx) })
}

// Open returns the content of media returned by Get.
func (s *Service) Open(ctx context.Context, m store.Media) (io.ReadSeekCloser, error) {
	return s.Files.Open(ctx, m.SHA256)
}
