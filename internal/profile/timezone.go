package profile

import (
	"strings"
	"time"
	// The IANA time zone database, compiled in (about 450 KB), so that m.tz
	// is checked the same way on hosts without /usr/share/zoneinfo (static
	// binaries in scratch containers): time.LoadLocation falls back to it.
	_ "time/tzdata"
)

// validTimeZone reports whether tz is an identifier of the IANA Time Zone
// Database ("Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires"), as
// the spec requires of m.tz. Names time.LoadLocation treats specially
// ("", "Local") or as paths are refused.
func validTimeZone(tz string) bool {
	if tz == "" || tz == "Local" || len(tz) > 64 || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") || strings.ContainsAny(tz, `\`) {
		return false
	}
	for _, r := range tz {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_-+", r)) {
			return false
		}
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}
