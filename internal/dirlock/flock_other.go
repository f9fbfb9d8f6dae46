//go:build !unix

package dirlock

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// tryLock does not lock where flock(2) is missing: Hafen's supported
// platforms are Unix ones.
func tryLock(*os.File) error { return nil }

func unlock(*os.File) error { return nil }
