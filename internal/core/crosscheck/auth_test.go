package crosscheck

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// maxReported caps the failures printed per subtest; the count of all
// failures is always reported.
const maxReported = 15

// TestAuthDifferential authorises every generated event (accepted events,
// rejected ones and probes with wrong auth events) against the state named
// by its auth_events with authrules.Check and with gomatrixserverlib's
// Allowed, and requires Hafen's decision to be the spec's: gomatrixserverlib's
// unless specDecision records a departure from the spec.
func TestAuthDifferential(t *testing.T) {
	for _, v := range testedVersions {
		t.Run("v"+string(v.ID), func(t *testing.T) {
			var checked, allowed, deviations, failures int
			devKinds := map[string]int{}
			for _, r := range roomsFor(t, v) {
				h := hafenRoomFor(r)
				for _, e := range r.Events {
					if e.Tamper != "" || e.GErr != nil {
						continue
					}
					checked++
					if e.Allowed {
						allowed++
					}
					if e.Deviation != "" {
						deviations++
						devKinds[e.Deviation]++
					}
					err := h.allowed(e)
					if got := err == nil; got != e.Allowed {
						failures++
						if failures <= maxReported {
							t.Errorf("%s", describeAuthFailure(r, e, err))
						}
					}
				}
			}
			if failures > maxReported {
				t.Errorf("%d more auth disagreements not shown", failures-maxReported)
			}
			t.Logf("room v%s: %d events checked, %d allowed, %d rejected; %d where the spec overrules gomatrixserverlib, %d disagreements with Hafen",
				v.ID, checked, allowed, checked-allowed, deviations, failures)
			for _, k := range sortedCounts(devKinds) {
				t.Logf("  spec over gomatrixserverlib (%d×): %s", devKinds[k], k)
			}
			if checked == 0 {
				t.Fatal("no events were checked")
			}
		})
	}
}

func sortedCounts(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func describeAuthFailure(r *genRoom, e *genEvent, herr error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "room v%s: authrules.Check(%s) = %v, want allowed=%v\n", r.Version.ID, e.Note, herr, e.Allowed)
	fmt.Fprintf(&b, "  gomatrixserverlib: allowed=%v %s\n", e.GMSLAllowed, e.GMSLReason)
	if e.Deviation != "" {
		fmt.Fprintf(&b, "  spec overrules gomatrixserverlib: %s\n", e.Deviation)
	}
	fmt.Fprintf(&b, "  event: %s\n", e.JSON)
	for _, a := range e.AuthState {
		fmt.Fprintf(&b, "  auth state %s/%q: %s\n", a.Type, *a.StateKey, compactContent(a))
	}
	return b.String()
}

func compactContent(e *genEvent) string {
	return fmt.Sprintf("sender=%s content=%s", e.Sender, canon(e.content()))
}
