package crosscheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// TestStateResDifferential resolves the branch states of every generated
// fork with stateres.Resolve and compares the result with the spec's answer:
// for state resolution v2 and v2.1 the spec-literal reference resolver
// (refstateres_test.go), which gomatrixserverlib must agree with unless a
// departure is recorded; for v1, gomatrixserverlib's answer.
func TestStateResDifferential(t *testing.T) {
	for _, v := range testedVersions {
		t.Run("v"+string(v.ID), func(t *testing.T) {
			var forks, gmslAgree, gmslFail, failures, explained int
			for _, r := range roomsFor(t, v) {
				h := hafenRoomFor(r)
				for _, f := range r.Forks {
					forks++
					switch {
					case f.GMSLErr != nil:
						gmslFail++
					case diffState(f.GMSL, f.Want) == "":
						gmslAgree++
					case v.StateRes != roomversion.StateResV1:
						// Attribute the difference to known
						// gomatrixserverlib departures (see refOpts).
						o := refOpts{gmslAuth: true, gmslControlSet: true, gmslFallback: true}
						if diffState(refResolveOpts(r, f.Sets, o), f.GMSL) == "" {
							explained++
						}
					}
					got, err := h.resolve(f.Sets)
					if err == nil && diffState(got, f.Want) == "" {
						continue
					}
					failures++
					if failures <= maxReported {
						t.Errorf("%s", describeForkFailure(r, f, got, err))
					}
				}
			}
			if failures > maxReported {
				t.Errorf("%d more state resolution disagreements not shown", failures-maxReported)
			}
			algo := map[roomversion.StateResAlgorithm]string{roomversion.StateResV1: "v1", roomversion.StateResV2: "v2", roomversion.StateResV2_1: "v2.1"}[v.StateRes]
			t.Logf("room v%s (state res %s): %d forks; gomatrixserverlib agrees with the spec on %d, differs on %d (%d of them reproduced by imitating its known departures), fails on %d; Hafen disagrees on %d",
				v.ID, algo, forks, gmslAgree, forks-gmslAgree-gmslFail, explained, gmslFail, failures)
			if forks == 0 {
				t.Fatal("no forks were generated")
			}
		})
	}
}

func describeForkFailure(r *genRoom, f *fork, got map[skey]string, err error) string {
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "room v%s: stateres.Resolve of %d state sets: error %v\n", r.Version.ID, len(f.Sets), err)
	} else {
		fmt.Fprintf(&b, "room v%s: stateres.Resolve of %d state sets differs from the spec:%s\n", r.Version.ID, len(f.Sets), diffState(got, f.Want))
	}
	if f.GMSLErr != nil {
		fmt.Fprintf(&b, "  gomatrixserverlib: %v\n", f.GMSLErr)
	} else if d := diffState(got, f.GMSL); d != "" {
		fmt.Fprintf(&b, "  Hafen vs gomatrixserverlib:%s\n", d)
	} else {
		b.WriteString("  Hafen agrees with gomatrixserverlib\n")
	}
	for _, k := range sortedKeys(union(f.Want, got)) {
		if f.Want[k] != got[k] {
			for _, id := range []string{f.Want[k], got[k]} {
				if e := r.ByID[id]; e != nil {
					fmt.Fprintf(&b, "  %s: %s %s\n", id, e.Note, compactContent(e))
				}
			}
		}
	}
	return b.String()
}
