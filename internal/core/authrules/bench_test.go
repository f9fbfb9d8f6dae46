package authrules

import (
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// BenchmarkCheckMember checks a kick against a room of 200 members whose
// power levels list 20 users and 15 event types.
func BenchmarkCheckMember(b *testing.B) {
	for _, v := range []*roomversion.Version{roomversion.V10, roomversion.V12} {
		b.Run("v"+string(v.ID), func(b *testing.B) {
			r := newTestRoom(b, v)
			st := r.standardState("public")
			users := `"` + mod + `":50`
			for i := range 20 {
				users += fmt.Sprintf(`,"@u%d:c.example":%d`, i, i)
			}
			events := `"m.room.name":50`
			for i := range 14 {
				events += fmt.Sprintf(`,"m.custom.%d":%d`, i, 50+i)
			}
			pl := r.ev(TypePowerLevels, sp(""), alice, `{"users":{`+users+adminEntry(r)+`},"events":{`+events+`},"ban":50,"kick":50,"invite":0,"redact":50,"state_default":50,"events_default":0,"users_default":0}`)
			st[pl.StateKeyTuple()] = pl
			for i := range 200 {
				u := fmt.Sprintf("@u%d:c.example", i)
				m := r.memberEv(u, u, "join")
				st[m.StateKeyTuple()] = m
			}
			e := r.memberEv(bob, mod, "leave")
			if err := Check(e, st); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := Check(e, st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
