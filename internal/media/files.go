package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Files stores content by its SHA-256. DirFiles keeps it on the local disk;
// an S3-compatible implementation can take its place.
type Files interface {
	// Put stores the bytes of r and returns their SHA-256 (lower-case hex)
	// and size. More than limit bytes fail with an error wrapping
	// ErrTooLarge and store nothing. A Put of content already stored
	// keeps one copy.
	Put(ctx context.Context, r io.Reader, limit int64) (sum string, size int64, err error)
	// Open returns the content stored under sum, or an error wrapping
	// ErrNotFound.
	Open(ctx context.Context, sum string) (io.ReadSeekCloser, error)
}

// DirFiles is Files in a directory: the content of SHA-256 abcdef… is the
// file Root/ab/cd/abcdef…, written through a temp file in Root/tmp, fsync
// and rename.
type DirFiles struct {
	// Root is the directory; it is created when missing.
	Root string
}

var _ Files = DirFiles{}

// path returns the file of a SHA-256 sum.
func (d DirFiles) path(sum string) string {
	return filepath.Join(d.Root, sum[0:2], sum[2:4], sum)
}

// validSum reports whether sum is 64 lower-case hex digits, so that it is
// safe in a path.
func validSum(sum string) bool {
	if len(sum) != 64 {
		return false
	}
	for _, c := range sum {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Put implements Files.
func (d DirFiles) Put(ctx context.Context, r io.Reader, limit int64) (string, int64, error) {
	tmpDir := filepath.Join(d.Root, "tmp")
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return "", 0, fmt.Errorf("create media temp directory: %w", err)
	}
	f, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return "", 0, fmt.Errorf("create media temp file: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, limit+1))
	if err != nil {
		return "", 0, fmt.Errorf("write media: %w", err)
	}
	if n > limit {
		return "", 0, fmt.Errorf("media larger than %d bytes: %w", limit, ErrTooLarge)
	}
	if err := f.Sync(); err != nil {
		return "", 0, fmt.Errorf("sync media file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("close media file: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	dst := d.path(sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", 0, fmt.Errorf("create media directory: %w", err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return "", 0, fmt.Errorf("move media file into place: %w", err)
	}
	committed = true
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return "", 0, err
	}
	return sum, n, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	df, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open media directory: %w", err)
	}
	defer df.Close()
	if err := df.Sync(); err != nil {
		return fmt.Errorf("sync media directory: %w", err)
	}
	return nil
}

// Open implements Files.
func (d DirFiles) Open(_ context.Context, sum string) (io.ReadSeekCloser, error) {
	if !validSum(sum) {
		return nil, fmt.Errorf("media file %q: %w", sum, ErrNotFound)
	}
	f, err := os.Open(d.path(sum))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("media file %s: %w", sum, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open media file %s: %w", sum, err)
	}
	return f, nil
}

// ctxReader stops reading once ctx is done, so an abandoned upload stops.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
