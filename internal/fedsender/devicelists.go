package fedsender

import (
	"context"
	"fmt"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// The device list changes of local users (store.Tx.AddDeviceListChange,
// written by whoever changes devices or keys) go to the servers that share
// a room with the user as m.device_list_update or m.signing_key_update
// EDUs. A goroutine of the sender reads the change stream after its stored
// position (DeviceListsConsumer) and queues the EDUs of a batch of changes
// in the same transaction as its new position, so a change is announced
// once even across a crash. It is woken by DeviceListsChanged after each
// change and looks on its own every deviceListPoll (for changes another
// process made).

// DeviceListsConsumer is the name under which the sender stores its
// position in the device list stream.
const DeviceListsConsumer = "federation_device_lists"

// deviceListBatch is the most changes read at once.
const deviceListBatch = 100

// deviceListPoll is how often the stream is read without a wake-up.
const deviceListPoll = 30 * time.Second

// DeviceListEDUs builds the EDU that announces a change of a local user's
// device list (*e2ee.Service).
type DeviceListEDUs interface {
	// DeviceListEDU returns the EDU's type and content; an empty type
	// when the change needs none.
	DeviceListEDU(ctx context.Context, c store.DeviceListChange) (string, []byte, error)
}

// DeviceListsChanged wakes the goroutine that announces device list
// changes. It never blocks.
func (s *Sender) DeviceListsChanged() {
	select {
	case s.devicePoke <- struct{}{}:
	default:
	}
}

// runDeviceLists announces device list changes until ctx ends.
func (s *Sender) runDeviceLists(ctx context.Context, pos int64) {
	t := time.NewTicker(deviceListPoll)
	defer t.Stop()
	for {
		for {
			next, more, err := s.announceDeviceLists(ctx, pos)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.cfg.Logger.Warn("announce device list changes", "err", err)
				break
			}
			pos = next
			if !more {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.devicePoke:
		case <-t.C:
		}
	}
}

// deviceListStart returns where announcing starts: the stored position,
// or else the stream's end (a server that announced nothing before does
// not announce its history), which it stores.
func (s *Sender) deviceListStart(ctx context.Context) (int64, error) {
	pos, ok, err := s.cfg.DB.ConsumerPosition(ctx, DeviceListsConsumer)
	if err != nil || ok {
		return pos, err
	}
	if pos, err = s.cfg.DB.DeviceListPosition(ctx); err != nil {
		return 0, err
	}
	err = s.cfg.DB.Write(ctx, func(tx *store.Tx) error { return tx.SetConsumerPosition(ctx, DeviceListsConsumer, pos) })
	return pos, err
}

// announceDeviceLists queues the EDUs of the changes after pos, one batch,
// and returns the new position and whether more changes may follow.
func (s *Sender) announceDeviceLists(ctx context.Context, pos int64) (int64, bool, error) {
	changes, err := s.cfg.DB.DeviceListChangesAfter(ctx, pos, deviceListBatch)
	if err != nil || len(changes) == 0 {
		return pos, false, err
	}
	type queued struct {
		dests   []id.ServerName
		typ     string
		content []byte
	}
	var out []queued
	servers := map[id.UserID][]id.ServerName{}
	for _, c := range changes {
		if c.UserID.Domain() != s.cfg.ServerName {
			continue
		}
		dests, ok := servers[c.UserID]
		if !ok {
			if dests, err = s.cfg.DB.ServersSharingRooms(ctx, c.UserID, s.cfg.ServerName); err != nil {
				return pos, false, err
			}
			servers[c.UserID] = dests
		}
		if len(dests) == 0 {
			continue
		}
		typ, content, err := s.cfg.DeviceLists.DeviceListEDU(ctx, c)
		if err != nil {
			return pos, false, fmt.Errorf("device list change %d of %s: %w", c.StreamID, c.UserID, err)
		}
		if typ != "" {
			out = append(out, queued{dests, typ, content})
		}
	}
	last := changes[len(changes)-1].StreamID
	woken := map[id.ServerName]bool{}
	err = s.cfg.DB.Write(ctx, func(tx *store.Tx) error {
		for _, q := range out {
			if err := tx.EnqueueEDU(ctx, q.dests, q.typ, q.content); err != nil {
				return err
			}
		}
		return tx.SetConsumerPosition(ctx, DeviceListsConsumer, last)
	})
	if err != nil {
		return pos, false, err
	}
	var names []id.ServerName
	for _, q := range out {
		for _, d := range q.dests {
			if !woken[d] {
				woken[d] = true
				names = append(names, d)
			}
		}
	}
	s.Wake(names)
	return last, len(changes) == deviceListBatch, nil
}
