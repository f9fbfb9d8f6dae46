package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/dendritetest"
)

// Size of the room BenchmarkRemoteJoinBigRoom joins.
const (
	bigRoomMembers = 500
	bigRoomState   = 2000
)

// buildBigRoom creates a room of version 10 on a (Dendrite knows no
// later version) with bigRoomMembers members, users of the peer p who join
// over federation, and bigRoomState custom state events sent by one of
// them, 50 events per transaction.
func buildBigRoom(b *testing.B, a *fedServer, p *fedPeer, token string) id.RoomID {
	b.Helper()
	var cr struct {
		RoomID id.RoomID `json:"room_id"`
	}
	csCall(b, a.base, token, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{
		"preset": "public_chat", "room_version": "10",
		"power_level_content_override": map[string]any{"events": map[string]any{"org.hafen.bench.state": 0}},
	}, &cr)
	rv := viewRoom(b, a.base, token, cr.RoomID)
	var batch []json.RawMessage
	txn := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		txn++
		ans := sendOK(b, p, a.name, fmt.Sprintf("bigroom-%d", txn), batch...)
		for eid, r := range ans.PDUs {
			if r.Error != nil {
				b.Fatalf("event %s of the big room: %s", eid, *r.Error)
			}
		}
		batch = batch[:0]
	}
	add := func(pdu *event.PDU) {
		rv.latest = pdu.EventID()
		if sk, ok := pdu.StateKey(); ok {
			rv.state[event.StateKey{Type: pdu.Type(), StateKey: sk}] = pdu.EventID()
		}
		batch = append(batch, pdu.JSON())
		if len(batch) == 50 {
			flush()
		}
	}
	member := func(i int) id.UserID { return id.UserID(fmt.Sprintf("@m%d:%s", i, p.name)) }
	for i := range bigRoomMembers {
		sk := string(member(i))
		add(p.build(b, rv, member(i), "m.room.member", &sk, fmt.Sprintf(`{"membership":"join","displayname":"Member %d"}`, i)))
	}
	for i := range bigRoomState {
		sk := fmt.Sprintf("key-%d", i)
		add(p.build(b, rv, member(i%bigRoomMembers), "org.hafen.bench.state", &sk, fmt.Sprintf(`{"n":%d,"text":"state event number %d of the big room"}`, i, i)))
	}
	flush()
	return cr.RoomID
}

// hafenProcess runs the hafen binary as a process of its own, named after
// its federation address, so that its memory can be measured.
type hafenProcess struct {
	name id.ServerName
	base string
	cmd  *exec.Cmd
}

func startHafenProcess(b *testing.B, bin string) *hafenProcess {
	b.Helper()
	fedAddr, clientAddr := freeAddr(b), freeAddr(b)
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(b.TempDir(), "data"),
		"--server-name", fedAddr, "--listen-federation", fedAddr, "--listen-client", clientAddr,
		"--open-registration", "--rate-limit=false", "--federation-allow-private", "--federation-skip-tls-verify")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	hp := &hafenProcess{name: id.ServerName(fedAddr), base: "http://" + clientAddr, cmd: cmd}
	hc := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := hc.Get(hp.base + "/_matrix/client/versions"); err == nil {
			resp.Body.Close()
			return hp
		}
		select {
		case <-exited:
			b.Fatalf("hafen exited on start:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("hafen did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// procMemory returns a process's resident set and its peak (VmRSS,
// VmHWM) in MiB.
func procMemory(b *testing.B, pid int) (rss, peak float64) {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// timeJoin joins the room through via as cli and returns how long it
// took until the joiner's server shows the user joined: Dendrite answers
// /join after 20 seconds at most and goes on joining in the background.
func timeJoin(b *testing.B, cli *mautrix.Client, roomID id.RoomID, via id.ServerName) time.Duration {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	if _, err := cli.JoinRoom(ctx, string(roomID), &mautrix.ReqJoinRoom{Via: []string{string(via)}}); err != nil {
		b.Fatalf("%s joins the big room: %v", cli.UserID, err)
	}
	for deadline := start.Add(5 * time.Minute); ; {
		var member struct {
			Membership string `json:"membership"`
		}
		err := cli.StateEvent(ctx, mid.RoomID(roomID), mevent.StateMember, string(cli.UserID), &member)
		if err == nil && member.Membership == "join" {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s never shows its join of the big room: %v", cli.UserID, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkRemoteJoinBigRoom measures the remote join of a room with 500
// members and 2,000 state events hosted on one Hafen: by a second Hafen
// (its own process) and, in the same run, by Dendrite v0.13.8 when it is
// installed, with each joiner's resident memory before and its peak
// after; with HAFEN_BENCH_BASE_BIN, also by that build of hafen, for
// before/after comparisons. Every iteration joins with fresh servers.
// Run it with -benchtime=1x (or a few x): setting up the room takes a
// while.
func BenchmarkRemoteJoinBigRoom(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "hafen")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build hafen: %v\n%s", err, out)
	}
	a := startFedServer(b)
	p := newFedPeer(b, startFedServer(b))
	alice := register(b, a.base, "alice")
	roomID := buildBigRoom(b, a, p, alice.AccessToken)
	withDendrite := dendritetest.Installed()
	if !withDendrite {
		b.Logf("Dendrite %s is not installed: measuring Hafen only", dendritetest.Version)
	}

	// HAFEN_BENCH_BASE_BIN names another build of hafen (an older
	// commit) to join the room too, alternating with this one.
	baseBin := os.Getenv("HAFEN_BENCH_BASE_BIN")
	var baseTotal time.Duration
	var basePeak float64
	joinWithBase := func(i int) {
		if baseBin == "" {
			return
		}
		c := startHafenProcess(b, baseBin)
		cli := register(b, c.base, fmt.Sprintf("base%d", i))
		baseTotal += timeJoin(b, cli, roomID, a.name)
		_, peak := procMemory(b, c.cmd.Process.Pid)
		basePeak += peak
	}

	var hafenTotal, dendriteTotal time.Duration
	var hafenPeak, dendritePeak, hafenBefore, dendriteBefore float64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if i%2 == 0 {
			joinWithBase(i)
		}
		c := startHafenProcess(b, bin)
		carol := register(b, c.base, fmt.Sprintf("carol%d", i))
		rss, _ := procMemory(b, c.cmd.Process.Pid)
		hafenBefore += rss
		b.StartTimer()
		hafenTotal += timeJoin(b, carol, roomID, a.name)
		b.StopTimer()
		_, peak := procMemory(b, c.cmd.Process.Pid)
		hafenPeak += peak

		if withDendrite {
			d := dendritetest.Start(b)
			dave := register(b, d.ClientURL, fmt.Sprintf("dave%d", i))
			rss, _ := procMemory(b, d.Cmd.Process.Pid)
			dendriteBefore += rss
			dendriteTotal += timeJoin(b, dave, roomID, a.name)
			_, peak := procMemory(b, d.Cmd.Process.Pid)
			dendritePeak += peak
		}
		if i%2 == 1 {
			joinWithBase(i)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(hafenTotal.Milliseconds())/n, "hafen-join-ms")
	b.ReportMetric(hafenBefore/n, "hafen-rss-before-MiB")
	b.ReportMetric(hafenPeak/n, "hafen-peak-MiB")
	if baseBin != "" {
		b.ReportMetric(float64(baseTotal.Milliseconds())/n, "base-join-ms")
		b.ReportMetric(basePeak/n, "base-peak-MiB")
	}
	if withDendrite {
		b.ReportMetric(float64(dendriteTotal.Milliseconds())/n, "dendrite-join-ms")
		b.ReportMetric(dendriteBefore/n, "dendrite-rss-before-MiB")
		b.ReportMetric(dendritePeak/n, "dendrite-peak-MiB")
		b.ReportMetric(float64(hafenTotal)/float64(dendriteTotal), "hafen/dendrite-time")
	}
}
