package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is the default MemoryLimit, sized for a personal
// or small community server on a small VPS: with sync's ring of recent
// events full, such a server has about 6 to 10 MiB live, and under this
// limit the load tool's pattern (150 rounds of 10 new users, one new room
// and 200 messages) keeps the process at about 49 MiB resident (18 of
// them the program's code), at the throughput it has without a limit.
const DefaultMemoryLimit = "24MiB"

// minMemoryLimit is the smallest MemoryLimit accepted: below it the
// garbage collector would run all the time.
const minMemoryLimit = 16 << 20

// errNoSize is returned by parseSize for "off".
var errNoSize = errors.New("off")

// MemoryLimitBytes returns MemoryLimit in bytes, 0 when it is "off".
func (c *Config) MemoryLimitBytes() (int64, error) {
	n, err := parseSize(c.MemoryLimit)
	if errors.Is(err, errNoSize) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("memory_limit: %w", err)
	}
	if n < minMemoryLimit {
		return 0, fmt.Errorf("memory_limit: %q is below 16MiB (use \"off\" for no limit)", c.MemoryLimit)
	}
	return n, nil
}

// parseSize parses a size with a binary unit: "28MiB", "1GiB", "512KiB".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		return 0, errNoSize
	}
	units := []struct {
		suffix string
		shift  uint
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n <= 0 || n > (1<<62)>>u.shift {
			break
		}
		return n << u.shift, nil
	}
	return 0, fmt.Errorf("%q is not a size such as 28MiB or 1GiB, or \"off\"", s)
}
