package authrules

import (
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
)

// ruleCase is one auth rule check. build makes the event under test and may
// change the standard state st first. want is a wantRule expectation, with
// rule numbers written by hand from each version's rule list.
type ruleCase struct {
	name     string
	lo, hi   int
	joinRule string
	build    func(r *testRoom, st StateMap) *event.PDU
	want     string
}

func (r *testRoom) setPL(st StateMap, extra string) {
	pl := r.ev(TypePowerLevels, sp(""), alice, r.plContent(extra))
	st[pl.StateKeyTuple()] = pl
}

func (r *testRoom) plEv(sender, content string) *event.PDU {
	return r.ev(TypePowerLevels, sp(""), sender, content)
}

func (r *testRoom) msg(sender string) *event.PDU {
	return r.ev("m.room.message", nil, sender, `{"body":"hi"}`)
}

func memberCase(target, sender, content string) func(r *testRoom, st StateMap) *event.PDU {
	return func(r *testRoom, st StateMap) *event.PDU {
		return r.ev(TypeMember, sp(target), sender, content)
	}
}

func membershipCase(target, sender, m string) func(r *testRoom, st StateMap) *event.PDU {
	return memberCase(target, sender, `{"membership":"`+m+`"}`)
}

// Expected rule numbers of the member rules, per version range. v1–v5 put
// m.room.member at rule 5 (after aliases), v6–v11 at 4, v12 at 5; v8 adds
// sub-rule 2 (join_authorised_via_users_server) before the branches.
const (
	wJoin2      = "4.3.2 1-5:5.2.2 6-7:4.2.2 12:5.3.2"
	wJoin3      = "4.3.3 1-5:5.2.3 6-7:4.2.3 12:5.3.3"
	wJoinReject = "4.3.7 1-5:5.2.6 6-7:4.2.6 12:5.3.7"
	wInvite2    = "4.4.2 1-5:5.3.2 6-7:4.3.2 12:5.4.2"
	wInvite3    = "4.4.3 1-5:5.3.3 6-7:4.3.3 12:5.4.3"
	wInvite5    = "4.4.5 1-5:5.3.5 6-7:4.3.5 12:5.4.5"
	wLeave1     = "4.5.1 1-5:5.4.1 6-7:4.4.1 12:5.5.1"
	wLeave2     = "4.5.2 1-5:5.4.2 6-7:4.4.2 12:5.5.2"
	wLeave3     = "4.5.3 1-5:5.4.3 6-7:4.4.3 12:5.5.3"
	wLeave5     = "4.5.5 1-5:5.4.5 6-7:4.4.5 12:5.5.5"
	wBan1       = "4.6.1 1-5:5.5.1 6-7:4.5.1 12:5.6.1"
	wBan3       = "4.6.3 1-5:5.5.3 6-7:4.5.3 12:5.6.3"
	wSenderJoin = "5 1-5:6 12:6"
	wTPIEvent   = "6.1 1-5:7.1 12:7.1"
	wRequired   = "7 1-5:8 12:8"
	wUserKey    = "8 1-5:9 12:9"
)

func TestCheckRules(t *testing.T) {
	cases := []ruleCase{
		// Rule 1: m.room.create.
		{name: "auth 1.1 v1-v12: create with prev_events is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				opts := []evOpt{withPrev("$other")}
				if !r.v.RoomIDFromCreateEvent {
					opts = append(opts, withRoom("!new:a.example"))
				}
				r.roomID = ""
				return r.ev(TypeCreate, sp(""), alice, r.createContent(""), opts...)
			}, want: "1.1"},
		{name: "auth 1.2 v1-v11: create whose room id domain is not the sender's is rejected", lo: 1, hi: 11,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev(TypeCreate, sp(""), alice, r.createContent(""), withPrev(), withRoom("!new:other.example"))
			}, want: "1.2"},
		{name: "auth 1.3 v1-v12: create with an unknown room_version is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				c := `{"room_version":"99","creator":"` + alice + `"}`
				return r.newCreate(c)
			}, want: "1.3"},
		{name: "auth 1.3 v1-v12: create with a non-string room_version is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.newCreate(`{"room_version":12,"creator":"` + alice + `"}`)
			}, want: "1.3"},
		{name: "auth 1.4 v1-v10: create without creator is rejected (allowed from v11)", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.newCreate(`{}`)
			}, want: "1.4 11-12:ok"},
		{name: "auth 1.4 v12: additional_creators that is not an array of user ids is rejected", lo: 12, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.newCreate(`{"additional_creators":["@ok:b.example","not-a-user"]}`)
			}, want: "1.4"},
		{name: "auth 1.4 v12: additional_creators that is a string is rejected", lo: 12, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.newCreate(`{"additional_creators":"@ok:b.example"}`)
			}, want: "1.4"},
		{name: "auth 1.5 v1-v12: valid create is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.newCreate(r.createContent(`"additional_creators":["@ok:b.example"]`))
			}, want: "ok"},

		// Rule 2 (v12) and 2.4 (v1–v11): the create event.
		{name: "auth 2.4 v1-v11 (2 in v12): event without a create event in state is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				delete(st, event.StateKey{Type: TypeCreate})
				return r.msg(bob)
			}, want: "2.4 12:2"},
		{name: "auth 2 v12: room id not derived from the create event is rejected", lo: 12, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev("m.room.message", nil, bob, `{}`, withRoom("!"+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
			}, want: "2"},

		// Rule 3 (4 in v12): m.federate.
		{name: "auth 3 v1-v12: event from another server in an unfederated room is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				c := r.makeCreate(`"m.federate":false`)
				st[c.StateKeyTuple()] = c
				return r.msg(bob)
			}, want: "3 12:4"},
		{name: "auth 3 v1-v12: event from the creator's server in an unfederated room is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				c := r.makeCreate(`"m.federate":false`)
				st[c.StateKeyTuple()] = c
				return r.msg(alice)
			}, want: "ok"},

		// Rule 4 (v1–v5): m.room.aliases.
		{name: "auth 4.1 v1-v5: aliases without state key is rejected", lo: 1, hi: 5,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev(TypeAliases, nil, bob, `{"aliases":[]}`)
			}, want: "4.1"},
		{name: "auth 4.2 v1-v5: aliases with state key not the sender's domain is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev(TypeAliases, sp("other.example"), bob, `{"aliases":[]}`)
			}, want: "4.2 6-11:7 12:8"},
		{name: "auth 4.3 v1-v5: aliases for the sender's domain is allowed without power (v6+ needs power)", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev(TypeAliases, sp("c.example"), eve, `{"aliases":[]}`)
			}, want: "ok 6-11:5 12:6"},

		// m.room.member: common.
		{name: "auth 4.1 v1-v12: member without membership is rejected", lo: 1, hi: 12,
			build: memberCase(bob, bob, `{}`), want: "4.1 1-5:5.1 12:5.1"},
		{name: "auth 4.8 v1-v12: unknown membership is rejected", lo: 1, hi: 12,
			build: membershipCase(bob, bob, "dance"), want: "4.8 1-5:5.6 6:4.6 7:4.7 12:5.8"},
		{name: "auth 4.8 v1-v12: non-string membership is rejected", lo: 1, hi: 12,
			build: memberCase(bob, bob, `{"membership":5}`), want: "4.8 1-5:5.6 6:4.6 7:4.7 12:5.8"},

		// join.
		{name: "auth 4.3.1 v1-v12: creator's join right after the create event is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				for k := range st {
					if k.Type != TypeCreate {
						delete(st, k)
					}
				}
				return r.ev(TypeMember, sp(alice), alice, `{"membership":"join"}`, withPrev(string(r.create.EventID())))
			}, want: "ok"},
		{name: "auth 4.3.1 v1-v12: other user's join right after the create event is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				for k := range st {
					if k.Type != TypeCreate {
						delete(st, k)
					}
				}
				return r.ev(TypeMember, sp(bob), bob, `{"membership":"join"}`, withPrev(string(r.create.EventID())))
			}, want: wJoinReject},
		{name: "auth 4.3.2 v1-v12: join with a state key other than the sender is rejected", lo: 1, hi: 12,
			build: membershipCase(eve, mod, "join"), want: wJoin2},
		{name: "auth 4.3.3 v1-v12: join of a banned user is rejected", lo: 1, hi: 12,
			build: membershipCase(dan, dan, "join"), want: wJoin3},
		{name: "auth 4.3.4 v1-v12: invited user joins an invite room", lo: 1, hi: 12, joinRule: "invite",
			build: membershipCase(carl, carl, "join"), want: "ok"},
		{name: "auth 4.3.4 v1-v12: uninvited user joining an invite room is rejected", lo: 1, hi: 12, joinRule: "invite",
			build: membershipCase(eve, eve, "join"), want: wJoinReject},
		{name: "auth 4.3.4 v7-v12: invited user joins a knock room (unknown rule before v7)", lo: 1, hi: 12, joinRule: "knock",
			build: membershipCase(carl, carl, "join"), want: "ok 1-5:5.2.6 6:4.2.6"},
		{name: "auth 4.3.5.1 v8-v12: invited user joins a restricted room", lo: 1, hi: 12, joinRule: "restricted",
			build: membershipCase(carl, carl, "join"), want: "ok 1-5:5.2.6 6-7:4.2.6"},
		{name: "auth 4.3.5.3 v8-v12: join authorised by a joined user with invite power is allowed", lo: 1, hi: 12, joinRule: "restricted",
			build: memberCase(eve, eve, `{"membership":"join","join_authorised_via_users_server":"`+mod+`"}`),
			want:  "ok 1-5:5.2.6 6-7:4.2.6"},
		{name: "auth 4.3.5.2 v8-v12: restricted join without an authorising user is rejected", lo: 8, hi: 12, joinRule: "restricted",
			build: membershipCase(eve, eve, "join"), want: "4.3.5.2 12:5.3.5.2"},
		{name: "auth 4.3.5.2 v8-v12: restricted join authorised by a user who is not joined is rejected", lo: 8, hi: 12, joinRule: "restricted",
			build: memberCase(eve, eve, `{"membership":"join","join_authorised_via_users_server":"`+carl+`"}`),
			want:  "4.3.5.2 12:5.3.5.2"},
		{name: "auth 4.3.5.2 v8-v12: restricted join authorised by a user without invite power is rejected", lo: 8, hi: 12, joinRule: "restricted",
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"invite":10`)
				return r.ev(TypeMember, sp(eve), eve, `{"membership":"join","join_authorised_via_users_server":"`+bob+`"}`)
			}, want: "4.3.5.2 12:5.3.5.2"},
		{name: "auth 4.3.5 v10-v12: knock_restricted join authorised by a joined user is allowed", lo: 7, hi: 12, joinRule: "knock_restricted",
			build: memberCase(eve, eve, `{"membership":"join","join_authorised_via_users_server":"`+mod+`"}`),
			want:  "ok 7:4.2.6 8-9:4.3.7"},
		{name: "auth 4.3.6 v1-v12: join of a public room is allowed", lo: 1, hi: 12,
			build: membershipCase(eve, eve, "join"), want: "ok"},
		{name: "auth 4.3.7 v1-v12: join of a private room is rejected", lo: 1, hi: 12, joinRule: "private",
			build: membershipCase(eve, eve, "join"), want: wJoinReject},
		{name: "auth 4.3.4 v1-v12: without join rules the room is invite only", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				delete(st, event.StateKey{Type: TypeJoinRules})
				return r.ev(TypeMember, sp(eve), eve, `{"membership":"join"}`)
			}, want: wJoinReject},

		// invite.
		{name: "auth 4.4.2 v1-v12: invite by a user who is not joined is rejected", lo: 1, hi: 12,
			build: membershipCase("@new:d.example", eve, "invite"), want: wInvite2},
		{name: "auth 4.4.3 v1-v12: invite of a joined user is rejected", lo: 1, hi: 12,
			build: membershipCase(bob, mod, "invite"), want: wInvite3},
		{name: "auth 4.4.3 v1-v12: invite of a banned user is rejected", lo: 1, hi: 12,
			build: membershipCase(dan, mod, "invite"), want: wInvite3},
		{name: "auth 4.4.4 v1-v12: invite by a joined user at the invite level is allowed", lo: 1, hi: 12,
			build: membershipCase("@new:d.example", bob, "invite"), want: "ok"},
		{name: "auth 4.4.5 v1-v12: invite by a user below the invite level is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"invite":60`)
				return r.ev(TypeMember, sp("@new:d.example"), mod, `{"membership":"invite"}`)
			}, want: wInvite5},

		// leave.
		{name: "auth 4.5.1 v1-v12: joined user leaves", lo: 1, hi: 12,
			build: membershipCase(bob, bob, "leave"), want: "ok"},
		{name: "auth 4.5.1 v1-v12: invited user rejects the invite", lo: 1, hi: 12,
			build: membershipCase(carl, carl, "leave"), want: "ok"},
		{name: "auth 4.5.1 v7-v12: knocking user withdraws the knock (no knock membership before v7)", lo: 1, hi: 12,
			build: membershipCase(kim, kim, "leave"), want: "ok 1-5:5.4.1 6:4.4.1"},
		{name: "auth 4.5.1 v1-v12: leave of a user who is not in the room is rejected", lo: 1, hi: 12,
			build: membershipCase(eve, eve, "leave"), want: wLeave1},
		{name: "auth 4.5.1 v1-v12: banned user may not leave", lo: 1, hi: 12,
			build: membershipCase(dan, dan, "leave"), want: wLeave1},
		{name: "auth 4.5.2 v1-v12: kick by a user who is not joined is rejected", lo: 1, hi: 12,
			build: membershipCase(bob, eve, "leave"), want: wLeave2},
		{name: "auth 4.5.3 v1-v12: unban by a user below the ban level is rejected", lo: 1, hi: 12,
			build: membershipCase(dan, bob, "leave"), want: wLeave3},
		{name: "auth 4.5.4 v1-v12: unban by a user at the ban and kick levels is allowed", lo: 1, hi: 12,
			build: membershipCase(dan, mod, "leave"), want: "ok"},
		{name: "auth 4.5.4 v1-v12: kick by a user at the kick level of a lower user is allowed", lo: 1, hi: 12,
			build: membershipCase(bob, mod, "leave"), want: "ok"},
		{name: "auth 4.5.5 v1-v12: kick of a higher user is rejected", lo: 1, hi: 12,
			build: membershipCase(alice, mod, "leave"), want: wLeave5},
		{name: "auth 4.5.5 v1-v12: kick by a user below the kick level is rejected", lo: 1, hi: 12,
			build: membershipCase(carl, bob, "leave"), want: wLeave5},
		{name: "auth 4.5.5 v1-v12: kick of an equal user is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"users_default":50`)
				return r.ev(TypeMember, sp(bob), mod, `{"membership":"leave"}`)
			}, want: wLeave5},

		// ban.
		{name: "auth 4.6.1 v1-v12: ban by a user who is not joined is rejected", lo: 1, hi: 12,
			build: membershipCase(bob, eve, "ban"), want: wBan1},
		{name: "auth 4.6.2 v1-v12: ban by a user at the ban level of a lower user is allowed", lo: 1, hi: 12,
			build: membershipCase(eve, mod, "ban"), want: "ok"},
		{name: "auth 4.6.3 v1-v12: ban by a user below the ban level is rejected", lo: 1, hi: 12,
			build: membershipCase(eve, bob, "ban"), want: wBan3},
		{name: "auth 4.6.3 v1-v12: ban of a higher user is rejected", lo: 1, hi: 12,
			build: membershipCase(alice, mod, "ban"), want: wBan3},

		// knock.
		{name: "auth 4.7.3 v7-v12: knock on a knock room is allowed (unknown membership before v7)", lo: 1, hi: 12, joinRule: "knock",
			build: membershipCase(eve, eve, "knock"), want: "ok 1-5:5.6 6:4.6"},
		{name: "auth 4.7.3 v10-v12: knock on a knock_restricted room is allowed", lo: 8, hi: 12, joinRule: "knock_restricted",
			build: membershipCase(eve, eve, "knock"), want: "ok 8-9:4.7.1"},
		{name: "auth 4.7.1 v7-v12: knock on a public room is rejected", lo: 7, hi: 12,
			build: membershipCase(eve, eve, "knock"), want: "4.7.1 7:4.6.1 12:5.7.1"},
		{name: "auth 4.7.2 v7-v12: knock for another user is rejected", lo: 7, hi: 12, joinRule: "knock",
			build: membershipCase(eve, mod, "knock"), want: "4.7.2 7:4.6.2 12:5.7.2"},
		{name: "auth 4.7.4 v7-v12: knock of an invited user is rejected", lo: 7, hi: 12, joinRule: "knock",
			build: membershipCase(carl, carl, "knock"), want: "4.7.4 7:4.6.4 12:5.7.4"},
		{name: "auth 4.7.4 v7-v12: knock of a banned user is rejected", lo: 7, hi: 12, joinRule: "knock",
			build: membershipCase(dan, dan, "knock"), want: "4.7.4 7:4.6.4 12:5.7.4"},

		// Rule 5 (6 in v1–v5, v12): sender must be joined.
		{name: "auth 5 v1-v12: message of a user who is not joined is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU { return r.msg(eve) }, want: wSenderJoin},
		{name: "auth 5 v1-v12: message of an invited user is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU { return r.msg(carl) }, want: wSenderJoin},
		{name: "auth 10 v1-v12: message of a joined user is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU { return r.msg(bob) }, want: "ok"},

		// Rule 6 (7 in v1–v5, v12): m.room.third_party_invite.
		{name: "auth 6.1 v1-v12: third party invite event at the invite level is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev(TypeThirdPartyInvite, sp("tok"), bob, `{"public_key":"x"}`)
			}, want: "ok"},
		{name: "auth 6.1 v1-v12: third party invite event below the invite level is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"invite":10`)
				return r.ev(TypeThirdPartyInvite, sp("tok"), bob, `{"public_key":"x"}`)
			}, want: wTPIEvent},

		// Rule 7 (8 in v1–v5, v12): required power level.
		{name: "auth 7 v1-v12: state event below state_default is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev("m.room.name", sp(""), bob, `{"name":"x"}`)
			}, want: wRequired},
		{name: "auth 7 v1-v12: state event at state_default is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev("m.room.name", sp(""), mod, `{"name":"x"}`)
			}, want: "ok"},
		{name: "auth 7 v1-v12: events entry overrides state_default", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"events":{"m.room.name":0}`)
				return r.ev("m.room.name", sp(""), bob, `{"name":"x"}`)
			}, want: "ok"},
		{name: "auth 7 v1-v12: message below events_default is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"events_default":10`)
				return r.msg(bob)
			}, want: wRequired},
		{name: "auth 7 v1-v12: without power levels state needs level 50", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				delete(st, event.StateKey{Type: TypePowerLevels})
				return r.ev("m.room.topic", sp(""), mod, `{"topic":"x"}`)
			}, want: wRequired},
		{name: "auth 7 v1-v12: without power levels the creator may send state", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				delete(st, event.StateKey{Type: TypePowerLevels})
				return r.ev("m.room.topic", sp(""), alice, `{"topic":"x"}`)
			}, want: "ok"},
		{name: "auth 7 v1-v9: string power levels are read", lo: 1, hi: 9,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"events_default":" +010 "`)
				return r.msg(bob)
			}, want: wRequired},
		{name: "auth 7 v1-v5: float power levels are truncated", lo: 1, hi: 5,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"events_default":0.9`)
				return r.msg(bob)
			}, want: "ok"},

		// Rule 8 (9 in v1–v5, v12): state keys naming users.
		{name: "auth 8 v1-v12: state key naming another user is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev("m.custom", sp(bob), mod, `{}`)
			}, want: wUserKey},
		{name: "auth 8 v1-v12: state key naming the sender is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev("m.custom", sp(mod), mod, `{}`)
			}, want: "ok"},

		// Rule 9 (10 in v1–v5, v12): m.room.power_levels.
		{name: "auth 9.3 v1-v12: users with an invalid user id is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, `{"users":{"bob":10,"`+mod+`":50}}`)
			}, want: "9.3 1-5:10.1 6-9:9.1 12:10.3"},
		{name: "auth 9.3 v1-v12: users that is not an object is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, `{"users":["`+mod+`"]}`)
			}, want: "9.3 1-5:10.1 6-9:9.1 12:10.3"},
		{name: "auth 9.3 v10-v12: users with a string level is rejected (allowed before v10)", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, `{"users":{"`+mod+`":" +50 "`+adminEntry(r)+`}}`)
			}, want: "ok 10-11:9.3 12:10.3"},
		{name: "auth 9.3 v1-v9: users with a non-numeric string level is rejected", lo: 1, hi: 9,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, `{"users":{"`+mod+`":"fifty"`+adminEntry(r)+`}}`)
			}, want: "9.1 1-5:10.1"},
		{name: "auth 9.1 v10-v12: string ban level is rejected (allowed before v10)", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, r.plContent(`"ban":"50"`))
			}, want: "ok 10-11:9.1 12:10.1"},
		{name: "auth 9.1 v10-v12: null kick level is rejected", lo: 10, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, r.plContent(`"kick":null`))
			}, want: "9.1 12:10.1"},
		{name: "auth 9.2 v10-v12: events that is not an object is rejected (ignored before v10)", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, r.plContent(`"events":[]`))
			}, want: "ok 10-11:9.2 12:10.2"},
		{name: "auth 9.2 v10-v12: notifications with a string level is rejected", lo: 10, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, r.plContent(`"notifications":{"room":"50"}`))
			}, want: "9.2 12:10.2"},
		{name: "auth 10.4 v12: users naming the create event's sender is rejected", lo: 12, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(alice, `{"users":{"`+alice+`":100}}`)
			}, want: "10.4"},
		{name: "auth 9.4 v1-v12: first power levels event is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				delete(st, event.StateKey{Type: TypePowerLevels})
				return r.plEv(alice, `{"users":{"`+bob+`":100},"ban":1000}`)
			}, want: "ok"},
		{name: "auth 9.5.1 v1-v12: changing a level above the sender's is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"ban":60,"state_default":0`)
				return r.plEv(mod, r.plContent(`"ban":40,"state_default":0`))
			}, want: "9.5.1 1-9:9.3.1 1-5:10.3.1 12:10.6.1"},
		{name: "auth 9.5.2 v1-v12: raising a level above the sender's is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, r.plContent(`"kick":60`))
			}, want: "9.5.2 1-9:9.3.2 1-5:10.3.2 12:10.6.2"},
		{name: "auth 9.5 v1-v12: setting a level to the sender's is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, r.plContent(`"kick":50,"ban":50,"invite":50,"redact":50`))
			}, want: "ok"},
		{name: "auth 9.5.1 v1-v12: removing a level above the sender's is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"redact":75`)
				return r.plEv(mod, r.plContent(""))
			}, want: "9.5.1 1-9:9.3.1 1-5:10.3.1 12:10.6.1"},
		{name: "auth 9.6.1 v1-v12: removing an events entry above the sender's level is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"events":{"m.room.tombstone":100}`)
				return r.plEv(mod, r.plContent(`"events":{}`))
			}, want: "9.6.1 1-9:9.4.1 1-5:10.4.1 12:10.7.1"},
		{name: "auth 9.7.1 v1-v12: adding an events entry above the sender's level is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, r.plContent(`"events":{"m.room.tombstone":100}`))
			}, want: "9.7.1 1-9:9.5.1 1-5:10.5.1 12:10.8.1"},
		{name: "auth 9.7.1 v6-v12: adding a notifications entry above the sender's level is rejected (ignored before v6)", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, r.plContent(`"notifications":{"room":100}`))
			}, want: "9.7.1 1-5:ok 6-9:9.5.1 12:10.8.1"},
		{name: "auth 9.8.1 v1-v12: changing a user at the sender's level is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"users_default":0`)
				c := `{"users":{"` + mod + `":50,"@mod2:b.example":0` + adminEntry(r) + `}}`
				old := `{"users":{"` + mod + `":50,"@mod2:b.example":50` + adminEntry(r) + `}}`
				pl := r.plEv(alice, old)
				st[pl.StateKeyTuple()] = pl
				return r.plEv(mod, c)
			}, want: "9.8.1 1-9:9.6.1 1-5:10.6.1 12:10.9.1"},
		{name: "auth 9.8 v1-v12: lowering the sender's own level is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, `{"users":{"`+mod+`":10`+adminEntry(r)+`}}`)
			}, want: "ok"},
		{name: "auth 9.9.1 v1-v12: giving a user a level above the sender's is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, `{"users":{"`+mod+`":50,"`+bob+`":51`+adminEntry(r)+`}}`)
			}, want: "9.9.1 1-9:9.7.1 1-5:10.7.1 12:10.10.1"},
		{name: "auth 9.9 v1-v12: giving a user the sender's level is allowed", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.plEv(mod, `{"users":{"`+mod+`":50,"`+bob+`":50`+adminEntry(r)+`}}`)
			}, want: "ok"},
		{name: "auth 9.9 v1-v9: a string level equal to the current integer is no change", lo: 1, hi: 9,
			build: func(r *testRoom, st StateMap) *event.PDU {
				r.setPL(st, `"ban":100`)
				return r.plEv(mod, r.plContent(`"ban":"100"`))
			}, want: "ok"},

		// Rule 11 (v1, v2): m.room.redaction.
		{name: "auth 11.3 v1-v2: redaction of another server's event below the redact level is rejected", lo: 1, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev(TypeRedaction, nil, bob, `{}`, withRedacts("$x:other.example"), withEventID(r.localID("b.example")))
			}, want: "ok 1-2:11.3"},
		{name: "auth 11.2 v1-v2: redaction of an event of the same server is allowed", lo: 1, hi: 2,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev(TypeRedaction, nil, bob, `{}`, withRedacts("$x:b.example"), withEventID("$r1:b.example"))
			}, want: "ok"},
		{name: "auth 11.1 v1-v2: redaction by a user at the redact level is allowed", lo: 1, hi: 2,
			build: func(r *testRoom, st StateMap) *event.PDU {
				return r.ev(TypeRedaction, nil, mod, `{}`, withRedacts("$x:other.example"), withEventID("$r1:b.example"))
			}, want: "ok"},

		// v12 creators.
		{name: "auth 5.6.2 v12: creator not in power levels users may ban a moderator", lo: 12, hi: 12,
			build: membershipCase(mod, alice, "ban"), want: "ok"},
		{name: "auth 5.6.3 v12: additional creator may not be banned by a moderator", lo: 12, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				c := r.makeCreate(`"additional_creators":["` + bob + `"]`)
				st[c.StateKeyTuple()] = c
				return r.ev(TypeMember, sp(bob), mod, `{"membership":"ban"}`)
			}, want: "5.6.3"},
		{name: "auth 10.4 v12: users naming an additional creator is rejected", lo: 12, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				c := r.makeCreate(`"additional_creators":["` + bob + `"]`)
				st[c.StateKeyTuple()] = c
				return r.plEv(alice, `{"users":{"`+bob+`":100}}`)
			}, want: "10.4"},
		{name: "auth 10 v12: additional creator may change any level", lo: 12, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				c := r.makeCreate(`"additional_creators":["` + bob + `"]`)
				st[c.StateKeyTuple()] = c
				return r.plEv(bob, `{"users":{"`+mod+`":9000},"ban":9000}`)
			}, want: "ok"},
		{name: "auth 5.3.1 v12: additional creator's join right after the create event is not the first join", lo: 12, hi: 12,
			build: func(r *testRoom, st StateMap) *event.PDU {
				for k := range st {
					delete(st, k)
				}
				c := r.makeCreate(`"additional_creators":["` + bob + `"]`)
				st[c.StateKeyTuple()] = c
				return r.ev(TypeMember, sp(bob), bob, `{"membership":"join"}`, withPrev(string(c.EventID())))
			}, want: "5.3.7"},
	}
	for _, tc := range cases {
		for _, v := range versionsIn(tc.lo, tc.hi) {
			t.Run(tc.name+"/v"+string(v.ID), func(t *testing.T) {
				r := newTestRoom(t, v)
				jr := tc.joinRule
				if jr == "" {
					jr = "public"
				}
				st := r.standardState(jr)
				e := tc.build(r, st)
				want := wantRule(tc.want, v)
				if got := ruleOf(t, Check(e, st)); got != want {
					t.Errorf("Check(%s) = %s, want %s (err %v)", e.JSON(), got, want, Check(e, st))
				}
				// Check must not change its input: a second run decides alike.
				if got := ruleOf(t, Check(e, st)); got != want {
					t.Errorf("second Check = %s, want %s", got, want)
				}
			})
		}
	}
}

// adminEntry is the creator's users entry in v1–v11 (v12 creators must not
// be listed), prefixed with a comma.
func adminEntry(r *testRoom) string {
	if r.v.PrivilegedCreators {
		return ""
	}
	return `,"` + alice + `":100`
}

// newCreate makes a create event for a new room with content c.
func (r *testRoom) newCreate(c string) *event.PDU {
	opts := []evOpt{withPrev()}
	if !r.v.RoomIDFromCreateEvent {
		opts = append(opts, withRoom("!new:a.example"))
	}
	saved := r.roomID
	r.roomID = ""
	defer func() { r.roomID = saved }()
	return r.ev(TypeCreate, sp(""), alice, c, opts...)
}

// localID returns an event ID on server (v1, v2) or a hash ID.
func (r *testRoom) localID(server string) string {
	if r.v.EventIDInEvent {
		r.n++
		return "$r" + string(rune('a'+r.n%26)) + ":" + server
	}
	return r.eventID()
}
