package crosscheck

import (
	"bytes"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// TestEventDifferential checks, for every generated event, that Hafen,
// gomatrixserverlib and the generator's from-first-principles computation
// (wire_test.go) agree on the event ID, the content hash, the redacted form
// and whether the signatures verify.
func TestEventDifferential(t *testing.T) {
	for _, v := range testedVersions {
		t.Run("v"+string(v.ID), func(t *testing.T) {
			var n, failures int
			dev := map[string]int{}
			fail := func(format string, args ...any) {
				failures++
				if failures <= maxReported {
					t.Errorf(format, args...)
				}
			}
			for _, r := range roomsFor(t, v) {
				h := hafenRoomFor(r)
				for _, e := range r.Events {
					n++
					p := h.pdus[e.ID]
					if e.GErr != nil {
						fail("room v%s: gomatrixserverlib cannot parse %s: %v\n  %s", v.ID, e.Note, e.GErr, e.JSON)
					}
					if p == nil {
						fail("room v%s: event.Parse(%s) = %v, want a PDU\n  %s", v.ID, e.Note, h.errs[e.ID], e.JSON)
						continue
					}
					// Event IDs.
					if got := string(p.EventID()); got != e.ID {
						fail("room v%s: event ID of %s = %s, want %s\n  %s", v.ID, e.Note, got, e.ID, e.JSON)
					}
					// Spec rooms/v11 §Redactions keeps third_party_invite.signed
					// of m.room.member; gomatrixserverlib drops it, so its
					// reference hash, event ID and signature check of such
					// events are wrong.
					tpiRedaction := e.Type == "m.room.member" && v.Redaction >= roomversion.RedactionV11 && e.content()["third_party_invite"] != nil
					const tpiWhy = "gomatrixserverlib's v11+ redaction drops third_party_invite.signed from m.room.member (spec rooms/v11 §Redactions keeps it), so its event ID and signature check of such events are wrong too"
					if e.G != nil && e.G.EventID() != e.ID && tpiRedaction {
						dev[tpiWhy]++
					} else if e.G != nil && e.G.EventID() != e.ID {
						fail("room v%s: gomatrixserverlib event ID of %s = %s, want %s", v.ID, e.Note, e.G.EventID(), e.ID)
					}
					// Content hashes.
					hash, err := event.ContentHash(e.JSON)
					if want := contentHash(e.obj); err != nil || !bytes.Equal(hash, want) {
						fail("room v%s: event.ContentHash(%s) = %x, %v; want %x", v.ID, e.Note, hash, err, want)
					}
					if err := event.CheckContentHash(e.JSON); (err == nil) != (e.Tamper != "content") {
						fail("room v%s: event.CheckContentHash(%s) = %v, want mismatch=%v", v.ID, e.Note, err, e.Tamper == "content")
					}
					if ref, err := event.ReferenceHash(e.JSON, v); err != nil || !bytes.Equal(ref, e.refHash) {
						fail("room v%s: event.ReferenceHash(%s) = %x, %v; want %x", v.ID, e.Note, ref, err, e.refHash)
					}
					if e.G != nil && e.G.Redacted() != (e.Tamper == "content") {
						fail("room v%s: gomatrixserverlib content hash check of %s: redacted=%v, want %v", v.ID, e.Note, e.G.Redacted(), e.Tamper == "content")
					}
					// Redaction.
					want := canon(redactObj(e.obj, v))
					hr, err := event.Redact(e.JSON, v)
					if err == nil {
						hr, err = recanon(hr)
					}
					if err != nil || !bytes.Equal(hr, want) {
						fail("room v%s: event.Redact(%s) =\n  %s, %v\nwant\n  %s", v.ID, e.Note, hr, err, want)
					}
					gr, err := r.GV.RedactEventJSON(e.JSON)
					if err == nil {
						gr, err = recanon(gr)
					}
					if err != nil || !bytes.Equal(gr, want) {
						// Spec v11 §Redactions (client-server-api #redactions):
						// "m.room.member allows keys membership,
						// join_authorised_via_users_server. Additionally, it
						// allows the signed key of the third_party_invite key."
						// gomatrixserverlib drops third_party_invite.
						if tpiRedaction {
							dev[tpiWhy]++
						} else {
							fail("room v%s: gomatrixserverlib redaction of %s =\n  %s, %v\nwant\n  %s", v.ID, e.Note, gr, err, want)
						}
					}
					// Signatures.
					wantSig := e.Tamper != "signature"
					if err := hafenVerify(r, p); (err == nil) != wantSig {
						fail("room v%s: signature check of %s = %v, want valid=%v", v.ID, e.Note, err, wantSig)
					}
					if e.G != nil {
						gerr := gmslVerify(e.G, r.Keys)
						if (gerr == nil) != wantSig {
							if tpiRedaction {
								dev[tpiWhy]++
							} else if wantSig && e.Type == "m.room.member" && e.membership() == "invite" {
								// Spec server-server-api §Validating hashes
								// and signatures on received events: "For
								// room versions 3 and later, unless the event
								// is a 3rd party invite, only the signature(s)
								// from the originating server ... are
								// required". gomatrixserverlib also requires
								// the invited user's server.
								dev["gomatrixserverlib requires the invitee's server to sign an invite (spec server-server-api §Validating hashes and signatures on received events requires only the sender's server)"]++
							} else {
								fail("room v%s: gomatrixserverlib signature check of %s = %v, want valid=%v", v.ID, e.Note, gerr, wantSig)
							}
						}
					}
				}
			}
			if failures > maxReported {
				t.Errorf("%d more event disagreements not shown", failures-maxReported)
			}
			t.Logf("room v%s: %d events compared (ID, content hash, redaction, signatures); %d disagreements", v.ID, n, failures)
			for _, k := range sortedCounts(dev) {
				t.Logf("  spec over gomatrixserverlib (%d×): %s", dev[k], k)
			}
			if n == 0 {
				t.Fatal("no events were generated")
			}
		})
	}
}
