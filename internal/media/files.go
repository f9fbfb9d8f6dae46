package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Files stores content by its SHA-256. DirFiles keeps it on the local disk;
// an S3-compatible implementation can take its place.
//
// Content is stored in two steps, so that the media service can make a
// file visible and record its row without the janitor deleting the file
// in between: Stage writes the bytes aside, Commit puts them in place.
type Files interface {
	// Stage stores the bytes of r aside and returns them staged, with
	// their SHA-256 (lower-case hex) and size. More than limit bytes fail
	// with an error wrapping ErrTooLarge and store nothing.
	Stage(ctx context.Context, r io.Reader, limit int64) (Staged, error)
	// Open returns the content stored under sum, or an error wrapping
	// ErrNotFound.
	Open(ctx context.Context, sum string) (io.ReadSeekCloser, error)
	// Remove deletes the content stored under sum; removing content that
	// is not there is no error.
	Remove(ctx context.Context, sum string) error
	// Walk calls fn for every content stored, with the time it was last
	// written, and removes staged content abandoned before staleBefore (a
	// crash between Stage and Commit). An error of fn stops the walk.
	Walk(ctx context.Context, staleBefore time.Time, fn func(sum string, modified time.Time) error) error
}

// Staged is content written by Files.Stage and not yet in place: Commit
// or Discard it.
type Staged interface {
	// Sum is the content's SHA-256, lower-case hex.
	Sum() string
	// Size is its length in bytes.
	Size() int64
	// Commit puts the content in place under its sum; content already
	// stored keeps one copy.
	Commit() error
	// Discard drops staged content; after Commit it does nothing.
	Discard()
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

// Put stages and commits the bytes of r (Stage, then Commit) and returns
// their SHA-256 and size.
func (d DirFiles) Put(ctx context.Context, r io.Reader, limit int64) (string, int64, error) {
	st, err := d.Stage(ctx, r, limit)
	if err != nil {
		return "", 0, err
	}
	if err := st.Commit(); err != nil {
		st.Discard()
		return "", 0, err
	}
	return st.Sum(), st.Size(), nil
}

// dirStaged is content staged in Root/tmp.
type dirStaged struct {
	d         DirFiles
	tmp       string
	sum       string
	size      int64
	committed bool
}

func (s *dirStaged) Sum() string { return s.sum }
func (s *dirStaged) Size() int64 { return s.size }
func (s *dirStaged) Discard() {
	if !s.committed {
		os.Remove(s.tmp)
	}
}

// Commit renames the temp file into place and syncs the directory.
func (s *dirStaged) Commit() error {
	dst := s.d.path(s.sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("create media directory: %w", err)
	}
	if err := os.Rename(s.tmp, dst); err != nil {
		return fmt.Errorf("move media file into place: %w", err)
	}
	s.committed = true
	return syncDir(filepath.Dir(dst))
}

// Stage implements Files: the bytes go to a temp file in Root/tmp, synced
// before it is renamed into place by Commit.
func (d DirFiles) Stage(ctx context.Context, r io.Reader, limit int64) (Staged, error) {
	tmpDir := filepath.Join(d.Root, "tmp")
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("create media temp directory: %w", err)
	}
	f, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("create media temp file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, limit+1))
	if err != nil {
		return nil, fmt.Errorf("write media: %w", err)
	}
	if n > limit {
		return nil, fmt.Errorf("media larger than %d bytes: %w", limit, ErrTooLarge)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync media file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close media file: %w", err)
	}
	ok = true
	return &dirStaged{d: d, tmp: f.Name(), sum: hex.EncodeToString(h.Sum(nil)), size: n}, nil
}

// Remove implements Files.
func (d DirFiles) Remove(_ context.Context, sum string) error {
	if !validSum(sum) {
		return nil
	}
	if err := os.Remove(d.path(sum)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove media file %s: %w", sum, err)
	}
	return nil
}

// Walk implements Files.
func (d DirFiles) Walk(ctx context.Context, staleBefore time.Time, fn func(sum string, modified time.Time) error) error {
	err := filepath.WalkDir(d.Root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if filepath.Base(filepath.Dir(p)) == "tmp" && filepath.Dir(filepath.Dir(p)) == filepath.Clean(d.Root) {
			if info.ModTime().Before(staleBefore) {
				os.Remove(p)
			}
			return nil
		}
		if sum := e.Name(); validSum(sum) && p == d.path(sum) {
			return fn(sum, info.ModTime())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk media files: %w", err)
	}
	return nil
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
