package main

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestFederationQueryEndToEnd asks A, as B, for a local user's profile
// (whole and one field) and resolves a local room alias to the room and
// the servers in it, B's included once its user has joined.
func TestFederationQueryEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := newFedPeer(t, startFedServer(t))
			alice := register(t, a.base, "alice")
			tok := alice.AccessToken
			csCall(t, a.base, tok, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID.String())+"/displayname", map[string]any{"displayname": "Alice A."}, &struct{}{})

			var prof map[string]string
			q := "/_matrix/federation/v1/query/profile?user_id=" + url.QueryEscape(alice.UserID.String())
			if st, code := b.fedGet(t, a.name, "GET", q, nil, &prof); st != 200 || prof["displayname"] != "Alice A." {
				t.Errorf("query profile = %d %s %v, want displayname Alice A.", st, code, prof)
			}
			prof = nil
			if st, code := b.fedGet(t, a.name, "GET", q+"&field=displayname", nil, &prof); st != 200 || len(prof) != 1 || prof["displayname"] != "Alice A." {
				t.Errorf("query profile field displayname = %d %s %v", st, code, prof)
			}
			if st, code := b.fedGet(t, a.name, "GET", q+"&field=avatar_url", nil, nil); st != 404 || code != "M_NOT_FOUND" {
				t.Errorf("query profile field that is not set = %d %s, want 404 M_NOT_FOUND", st, code)
			}
			// Extended fields (spec v1.16) are served whole and one by one.
			csCall(t, a.base, tok, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID.String())+"/m.tz", map[string]any{"m.tz": "Europe/Berlin"}, &struct{}{})
			csCall(t, a.base, tok, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID.String())+"/org.example.pronouns",
				map[string]any{"org.example.pronouns": map[string]any{"subject": "she"}}, &struct{}{})
			var all map[string]any
			if st, code := b.fedGet(t, a.name, "GET", q, nil, &all); st != 200 || all["m.tz"] != "Europe/Berlin" || all["displayname"] != "Alice A." {
				t.Errorf("query whole profile with extended fields = %d %s %v", st, code, all)
			}
			var one map[string]map[string]string
			if st, code := b.fedGet(t, a.name, "GET", q+"&field=org.example.pronouns", nil, &one); st != 200 || len(one) != 1 || one["org.example.pronouns"]["subject"] != "she" {
				t.Errorf("query profile field org.example.pronouns = %d %s %v", st, code, one)
			}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/query/profile?user_id="+url.QueryEscape("@nobody:"+string(a.name)), nil, nil); st != 404 || code != "M_NOT_FOUND" {
				t.Errorf("query profile of an unknown user = %d %s, want 404 M_NOT_FOUND", st, code)
			}

			var cr struct {
				RoomID id.RoomID `json:"room_id"`
			}
			csCall(t, a.base, tok, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat", "room_alias_name": "lobby"}, &cr)
			bob := id.UserID("@bob:" + string(b.name))
			joinOverSend(t, a, b, tok, cr.RoomID, bob)
			var dir struct {
				RoomID  id.RoomID       `json:"room_id"`
				Servers []id.ServerName `json:"servers"`
			}
			alias := "#lobby:" + string(a.name)
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/query/directory?room_alias="+url.QueryEscape(alias), nil, &dir); st != 200 {
				t.Fatalf("query directory = %d %s", st, code)
			}
			if dir.RoomID != cr.RoomID || !slices.Equal(dir.Servers, []id.ServerName{a.name, b.name}) {
				t.Errorf("query directory = %s %v, want %s [%s %s]", dir.RoomID, dir.Servers, cr.RoomID, a.name, b.name)
			}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/query/directory?room_alias="+url.QueryEscape("#nothere:"+string(a.name)), nil, nil); st != 404 || code != "M_NOT_FOUND" {
				t.Errorf("query directory of an unknown alias = %d %s, want 404 M_NOT_FOUND", st, code)
			}
		})
	}
}

// TestRemoteProfileAndAliasLookupEndToEnd: a user of B looks up, through
// B's client API, a profile and a room alias of A, which B asks A for;
// unknown users and aliases of A answer 404.
func TestRemoteProfileAndAliasLookupEndToEnd(t *testing.T) {
	a := startFedServer(t)
	b := startFedServer(t)
	alice := register(t, a.base, "alice")
	bob := register(t, b.base, "bob")
	csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID.String())+"/displayname", map[string]any{"displayname": "Alice A."}, &struct{}{})
	csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID.String())+"/org.example.job", map[string]any{"org.example.job": map[string]any{"title": "pilot"}}, &struct{}{})
	var cr struct {
		RoomID id.RoomID `json:"room_id"`
	}
	csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat", "room_alias_name": "lobby"}, &cr)

	var prof map[string]any
	if st := csCall(t, b.base, bob.AccessToken, http.MethodGet, "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID.String()), nil, &prof); st != 200 || prof["displayname"] != "Alice A." {
		t.Errorf("B's profile of alice = %d %v", st, prof)
	}
	prof = nil
	if st := csCall(t, b.base, bob.AccessToken, http.MethodGet, "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID.String())+"/displayname", nil, &prof); st != 200 || prof["displayname"] != "Alice A." {
		t.Errorf("B's displayname of alice = %d %v", st, prof)
	}
	// Extended fields come along, whole and one by one.
	var job map[string]map[string]string
	if st := csCall(t, b.base, bob.AccessToken, http.MethodGet, "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID.String())+"/org.example.job", nil, &job); st != 200 || job["org.example.job"]["title"] != "pilot" {
		t.Errorf("B's org.example.job of alice = %d %v", st, job)
	}
	if st := csCall(t, b.base, bob.AccessToken, http.MethodGet, "/_matrix/client/v3/profile/"+url.PathEscape("@nobody:"+string(a.name)), nil, nil); st != 404 {
		t.Errorf("B's profile of an unknown user of A = %d, want 404", st)
	}

	var dir struct {
		RoomID  id.RoomID       `json:"room_id"`
		Servers []id.ServerName `json:"servers"`
	}
	if st := csCall(t, b.base, bob.AccessToken, http.MethodGet, "/_matrix/client/v3/directory/room/"+url.PathEscape("#lobby:"+string(a.name)), nil, &dir); st != 200 || dir.RoomID != cr.RoomID || !slices.Equal(dir.Servers, []id.ServerName{a.name}) {
		t.Errorf("B resolves A's alias = %d %s %v, want %s [%s]", st, dir.RoomID, dir.Servers, cr.RoomID, a.name)
	}
	if st := csCall(t, b.base, bob.AccessToken, http.MethodGet, "/_matrix/client/v3/directory/room/"+url.PathEscape("#nothere:"+string(a.name)), nil, nil); st != 404 {
		t.Errorf("B resolves an unknown alias of A = %d, want 404", st)
	}
}
