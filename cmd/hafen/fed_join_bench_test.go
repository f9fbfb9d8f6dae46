package main

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// BenchmarkRemoteJoinBigRoom measures a remote join of a room with many
// state events and some history: each iteration starts a fresh server B
// (not timed) whose user joins the room of A through the client API (timed,
// including what B does after the join, such as fetching history).
func BenchmarkRemoteJoinBigRoom(b *testing.B) {
	a := startFedServer(b)
	alice := register(b, a.base, "alice")
	roomID := createPublicRoom(b, a.base, alice.AccessToken)
	const stateEvents, messages = 1000, 100
	for i := range stateEvents {
		csCall(b, a.base, alice.AccessToken, http.MethodPut, roomPath(roomID, fmt.Sprintf("/state/org.example.item/%d", i)), map[string]any{"n": i}, &struct{}{})
	}
	for i := range messages {
		csCall(b, a.base, alice.AccessToken, http.MethodPut, roomPath(roomID, fmt.Sprintf("/send/m.room.message/m%d", i)), map[string]any{"msgtype": "m.text", "body": fmt.Sprint(i)}, &struct{}{})
	}
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		srv := startFedServer(b)
		bob := register(b, srv.base, fmt.Sprintf("bob%d", i))
		b.StartTimer()
		start := time.Now()
		csCall(b, srv.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(roomID))+"?via="+url.QueryEscape(string(a.name)), struct{}{}, &struct{}{})
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/join")
}
