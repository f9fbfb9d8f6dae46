package dirlock

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestAcquireIsExclusive(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire = %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf("(pid %d)", os.Getpid()); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the directory and %s", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

func TestAcquireNeedsTheDirectory(t *testing.T) {
	if _, err := Acquire(t.TempDir() + "/missing"); err == nil || errors.Is(err, ErrLocked) {
		t.Errorf("Acquire of a missing directory = %v", err)
	}
}

func TestAcquireFile(t *testing.T) {
	path := t.TempDir() + "/hafen.db.lock"
	l, err := AcquireFile(path, "database /x/hafen.db")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := AcquireFile(path, "database /x/hafen.db"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "database /x/hafen.db is in use") {
		t.Errorf("second AcquireFile = %v", err)
	}
}
