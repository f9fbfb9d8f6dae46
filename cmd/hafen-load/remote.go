package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// warmupKey is the content key that marks the warm-up message of a run.
const warmupKey = "hafen_load_warmup"

// maxWarmupPolls bounds the /sync requests one syncer makes while it waits
// for the warm-up message.
const maxWarmupPolls = 100

// serverOf returns the server name of a user ID ("@local:server"), or ""
// when userID has none.
func serverOf(userID string) string {
	_, server, ok := strings.Cut(userID, ":")
	if !ok || !strings.HasPrefix(userID, "@") {
		return ""
	}
	return server
}

// warmUp sends one message as the first sender and waits until every syncer
// has read it in /sync, advancing each syncer's since token past it. With a
// remote server this waits out what the first event to a new destination
// costs (key fetches, a new connection) and proves that the room's events
// reach the other server at all before the measured phase starts.
func warmUp(ctx context.Context, st *setup, runID string) error {
	content := map[string]any{"msgtype": "m.text", "body": "hafen-load warm-up " + runID, warmupKey: runID}
	if err := st.senders[0].sendMessage(ctx, st.roomID, runID+"-warmup", content); err != nil {
		return fmt.Errorf("send warm-up message: %w", err)
	}
	errs := make([]error, len(st.syncers))
	var wg sync.WaitGroup
	for s, c := range st.syncers {
		wg.Go(func() {
			since, err := waitForWarmup(ctx, c, st.filter, st.roomID, st.sinces[s], runID)
			if err != nil {
				errs[s] = fmt.Errorf("warm-up message to %s: %w", c.userID, err)
				return
			}
			st.sinces[s] = since
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// waitForWarmup polls /sync from since until the warm-up message of runID
// appears in the room's timeline, and returns the next_batch of that answer.
func waitForWarmup(ctx context.Context, c *client, filter, roomID, since, runID string) (string, error) {
	for range maxWarmupPolls {
		resp, err := c.sync(ctx, filter, since, syncPollTimeout)
		if err != nil {
			return "", err
		}
		since = resp.NextBatch
		for _, ev := range resp.Rooms.Join[roomID].Timeline.Events {
			var mark struct {
				RunID string `json:"hafen_load_warmup"`
			}
			if ev.Type == "m.room.message" && json.Unmarshal(ev.Content, &mark) == nil && mark.RunID == runID {
				return since, nil
			}
		}
	}
	return "", fmt.Errorf("not seen after %d /sync requests", maxWarmupPolls)
}
