// Package dirlock takes an exclusive, advisory lock on a directory for the
// lifetime of a process, so that two Hafen servers never use one data
// directory at once. The lock is a flock(2) on a file in the directory,
// which the kernel releases when the process ends, however it ends: a
// crash leaves no stale lock behind.
//
// It does nothing but lock: it neither creates the directory nor logs.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileName is the lock file inside the locked directory. It holds the
// process ID of the holder, for the error message of the next one.
const FileName = "hafen.lock"

// ErrLocked is returned (wrapped) when another process holds the lock.
var ErrLocked = errors.New("in use by another hafen process")

// Lock is a held directory lock.
type Lock struct {
	f *os.File
}

// Acquire locks dir, which must exist, without waiting. When another
// process (or another Acquire in this one) holds the lock, the error wraps
// ErrLocked and names the holder's process ID when it is known.
func Acquire(dir string) (*Lock, error) {
	return acquire(filepath.Join(dir, FileName), dir)
}

// AcquireFile locks the lock file at path, creating it, like Acquire: for
// a resource outside the data directory (an SQLite database elsewhere),
// locked through a file next to it. what names the resource in errors.
func AcquireFile(path, what string) (*Lock, error) {
	return acquire(path, what)
}

func acquire(path, dir string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := tryLock(f); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("%s is %w%s", dir, ErrLocked, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up. The lock file stays (removing it would race
// with the next holder). Release on a nil Lock does nothing.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
