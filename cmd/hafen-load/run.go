package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// config is what one run measures.
type config struct {
	URL              string
	Senders          int
	Messages         int // per sender
	Syncers          int
	SharedSecret     string
	OpenRegistration bool
	Timeout          time.Duration
	PID              int // 0: no memory readings

	// RemoteURL, when set, is a second homeserver federated with URL: the
	// syncers register there and join the room over federation, so
	// send→sync latency is send→seen on the other server.
	RemoteURL          string
	RemoteSharedSecret string // registration on RemoteURL; SharedSecret when empty
	RemotePID          int    // 0: no readings of the remote server

	// Receipts makes every syncer post an m.read receipt for the newest
	// message of each /sync answer; ReceiptInterval, when positive, is the
	// least time between the starts of two receipts of one syncer.
	Receipts        bool
	ReceiptInterval time.Duration
}

// syncErrorPause is how long a syncer waits after a failed /sync before it
// polls again.
const syncErrorPause = 250 * time.Millisecond

// errorLog counts the errors of a run by phase and keeps the first few.
type errorLog struct {
	mu      sync.Mutex
	byPhase map[string]int
	samples []string
}

// maxErrorSamples bounds how many error texts the report carries.
const maxErrorSamples = 10

func (l *errorLog) add(phase string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byPhase == nil {
		l.byPhase = map[string]int{}
	}
	l.byPhase[phase]++
	if len(l.samples) < maxErrorSamples {
		l.samples = append(l.samples, phase+": "+err.Error())
	}
}

// run measures the homeserver described by cfg. It returns an error only
// when the setup (registration, room creation, joins, initial syncs) fails;
// errors during the measured phase are counted in the report.
func run(ctx context.Context, cfg config, log *slog.Logger) (*report, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	runID, err := randomHex(4)
	if err != nil {
		return nil, err
	}
	rep := &report{
		URL:               cfg.URL,
		RunID:             runID,
		Senders:           cfg.Senders,
		MessagesPerSender: cfg.Messages,
		Syncers:           cfg.Syncers,
		Messages:          cfg.Senders * cfg.Messages,
		RemoteURL:         cfg.RemoteURL,
		Receipts:          cfg.Receipts,
		ReceiptIntervalMS: cfg.ReceiptInterval.Milliseconds(),
	}
	local, err := watchProcess(cfg.PID)
	if err != nil {
		return nil, err
	}
	remote, err := watchProcess(cfg.RemotePID)
	if err != nil {
		return nil, err
	}

	setupStart := time.Now()
	var retries atomic.Int64
	st, err := setUp(ctx, cfg, runID, &retries, log)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	rep.SetupSeconds = seconds(time.Since(setupStart))
	rep.RoomID = st.roomID
	rep.WarmupSeconds = st.warmupSeconds
	senders, syncers, roomID, filter := st.senders, st.syncers, st.roomID, st.filter
	total := cfg.Senders * cfg.Messages

	// Measured phase.
	tr := newTracker(runID, total, len(syncers))
	var errs errorLog
	var polls, limited atomic.Int64
	var receipts receiptCounts
	maxPolls := 4*total + 100

	// The syncers run until every message is seen, the deadline passes, or
	// they have polled maxPolls times.
	syncCtx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	var syncWG sync.WaitGroup
	for s, c := range syncers {
		syncWG.Go(func() {
			since := st.sinces[s]
			var rp *receiptPoster
			if cfg.Receipts {
				rp = startReceipts(ctx, c, roomID, cfg.ReceiptInterval, &receipts, &errs)
				defer rp.close()
			}
			for range maxPolls {
				resp, err := c.sync(syncCtx, filter, since, syncPollTimeout)
				at := time.Now()
				if err != nil {
					if syncCtx.Err() != nil {
						return
					}
					errs.add("sync", err)
					if sleep(syncCtx, syncErrorPause) != nil {
						return
					}
					continue
				}
				polls.Add(1)
				since = resp.NextBatch
				room, ok := resp.Rooms.Join[roomID]
				if !ok {
					continue
				}
				if room.Timeline.Limited {
					limited.Add(1)
				}
				var ids []int
				for _, ev := range room.Timeline.Events {
					if ev.Type != "m.room.message" {
						continue
					}
					if i, ok := tr.messageIndex(ev.Content); ok {
						ids = append(ids, i)
					}
				}
				tr.saw(s, ids, at)
				if rp != nil {
					if id := newestMessage(room.Timeline.Events); id != "" {
						rp.read(id, &receipts)
					}
				}
			}
		})
	}

	local.markMeasured(&errs)
	remote.markMeasured(&errs)
	selfCPU, selfErr := readCPUSeconds(os.Getpid())
	log.Info("sending", "senders", cfg.Senders, "messages_per_sender", cfg.Messages, "syncers", cfg.Syncers)
	sendStart := time.Now()
	var sendWG sync.WaitGroup
	for k, c := range senders {
		sendWG.Go(func() {
			for j := range cfg.Messages {
				if ctx.Err() != nil {
					return
				}
				i := k*cfg.Messages + j
				start := time.Now()
				tr.startSend(i, start)
				err := c.sendMessage(ctx, roomID, runID+"-"+strconv.Itoa(i), tr.content(i))
				tr.endSend(i, time.Now(), err)
				if err != nil {
					errs.add("send", err)
				}
			}
		})
	}
	syncersExited := make(chan struct{})
	go func() {
		syncWG.Wait()
		close(syncersExited)
	}()
	sendWG.Wait()
	tr.sendsDone()

	select {
	case <-tr.complete:
	case <-ctx.Done():
	case <-syncersExited:
	}
	select {
	case <-tr.complete:
		rep.Complete = true
	default:
		if ctx.Err() != nil {
			log.Warn("deadline passed before every message was seen", "err", ctx.Err())
		} else {
			log.Warn("syncers reached their poll limit before every message was seen", "max_polls", maxPolls)
		}
	}
	stopSync()
	syncWG.Wait()
	end := time.Now()

	if selfErr == nil {
		if cpu, err := readCPUSeconds(os.Getpid()); err == nil {
			rep.LoadCPUSeconds = math.Round((cpu-selfCPU)*100) / 100
		}
	}
	rep.Server = local.finish(&errs)
	rep.RemoteServer = remote.finish(&errs)

	r := tr.results()
	rep.Sent, rep.SendFailed, rep.NotSent = r.sent, r.failed, r.notSent
	sendEnd := r.lastEnd
	if sendEnd.IsZero() {
		sendEnd = sendStart
	}
	wallEnd := end
	if rep.Complete && len(syncers) > 0 {
		wallEnd = r.lastSeen
	} else if rep.Complete {
		wallEnd = sendEnd
	}
	rep.SendSeconds = seconds(sendEnd.Sub(sendStart))
	rep.WallSeconds = seconds(wallEnd.Sub(sendStart))
	rep.SendThroughput = perSecond(r.sent, sendEnd.Sub(sendStart))
	rep.DeliveredThroughput = perSecond(r.seenByAll, wallEnd.Sub(sendStart))
	rep.SendLatency = summarize(r.sendLatency)
	rep.SyncLatency = summarize(r.pairLatency)
	rep.AllSyncedLatency = summarize(r.allLatency)
	rep.SeenByAll = r.seenByAll
	rep.MissingPairs = r.missingPairs
	rep.MissingMessages = r.missingMessages
	rep.MissingSample = r.missingSample
	rep.SyncPolls = polls.Load()
	rep.LimitedTimelines = limited.Load()
	rep.RateLimitRetries = retries.Load()
	rep.ReceiptsSent = receipts.sent.Load()
	rep.ReceiptsFailed = receipts.failed.Load()
	rep.ReceiptsSuperseded = receipts.superseded.Load()
	errs.mu.Lock()
	rep.ErrorsByPhase = errs.byPhase
	rep.ErrorSamples = errs.samples
	for _, n := range errs.byPhase {
		rep.Errors += n
	}
	errs.mu.Unlock()
	log.Info("done", "complete", rep.Complete, "errors", rep.Errors, "missing_pairs", rep.MissingPairs)
	return rep, nil
}

// setup is what the measured phase starts from.
type setup struct {
	senders, syncers []*client
	roomID           string
	filter           string   // the syncers' /sync filter
	sinces           []string // each syncer's next_batch after its initial sync
	warmupSeconds    float64  // how long the warm-up message took to reach every syncer
}

// setUp registers the senders and syncers, creates the room with the first
// sender, lets every other user join it, and runs each syncer's initial
// /sync. With a remote server the syncers are its users: they join the room
// over federation, and a warm-up message must reach each of them before the
// measured phase starts.
func setUp(ctx context.Context, cfg config, runID string, retries *atomic.Int64, log *slog.Logger) (*setup, error) {
	users := make([]*client, cfg.Senders+cfg.Syncers)
	log.Info("registering users", "count", len(users), "run_id", runID)
	hc := newHTTPClient(cfg.Senders + cfg.Syncers)
	baseURL, secret := cfg.URL, cfg.SharedSecret
	for i := range users {
		if i == cfg.Senders && cfg.RemoteURL != "" {
			// The syncers live on the other server.
			baseURL = cfg.RemoteURL
			hc = newHTTPClient(cfg.Syncers)
			if cfg.RemoteSharedSecret != "" {
				secret = cfg.RemoteSharedSecret
			}
		}
		c := &client{hc: hc, baseURL: baseURL, retries: retries}
		username := "hafenload-" + runID + "-" + strconv.Itoa(i)
		password, err := randomHex(16)
		if err != nil {
			return nil, err
		}
		if cfg.OpenRegistration {
			err = registerOpen(ctx, c, username, password)
		} else {
			err = registerSharedSecret(ctx, c, secret, username, password)
		}
		if err != nil {
			return nil, fmt.Errorf("on %s: %w", baseURL, err)
		}
		users[i] = c
	}
	st := &setup{senders: users[:cfg.Senders], syncers: users[cfg.Senders:]}

	var err error
	if st.roomID, err = users[0].createRoom(ctx, "hafen-load "+runID); err != nil {
		return nil, fmt.Errorf("create room: %w", err)
	}
	log.Info("room created", "room_id", st.roomID)
	var via []string
	if cfg.RemoteURL != "" {
		// The room's server is the server of its creator.
		via = []string{serverOf(users[0].userID)}
		if via[0] == "" {
			return nil, fmt.Errorf("user ID %q has no server name", users[0].userID)
		}
	}
	for i, c := range users[1:] {
		var through []string
		if i+1 >= cfg.Senders {
			through = via
		}
		if err := c.join(ctx, st.roomID, through); err != nil {
			return nil, fmt.Errorf("join %s as %s: %w", st.roomID, c.userID, err)
		}
	}

	if st.filter, err = syncFilter(st.roomID, cfg.Senders*cfg.Messages); err != nil {
		return nil, err
	}
	st.sinces = make([]string, len(st.syncers))
	for s, c := range st.syncers {
		resp, err := c.sync(ctx, st.filter, "", 0)
		if err != nil {
			return nil, fmt.Errorf("initial sync of %s: %w", c.userID, err)
		}
		st.sinces[s] = resp.NextBatch
	}
	if cfg.RemoteURL != "" && len(st.syncers) > 0 {
		start := time.Now()
		if err := warmUp(ctx, st, runID); err != nil {
			return nil, err
		}
		st.warmupSeconds = seconds(time.Since(start))
		log.Info("warm-up message seen on the remote server", "seconds", st.warmupSeconds)
	}
	return st, nil
}

// syncFilter is the inline filter the syncers send: only the test room, a
// timeline long enough to hold every message of the run, and no presence or
// account data.
func syncFilter(roomID string, messages int) (string, error) {
	f := map[string]any{
		"room": map[string]any{
			"rooms":    []string{roomID},
			"timeline": map[string]any{"limit": messages + 50},
		},
		"presence":     map[string]any{"not_types": []string{"*"}},
		"account_data": map[string]any{"not_types": []string{"*"}},
	}
	b, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("encode sync filter: %w", err)
	}
	return string(b), nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// seconds returns d in seconds, rounded to milliseconds.
func seconds(d time.Duration) float64 {
	return float64(d.Milliseconds()) / 1000
}
