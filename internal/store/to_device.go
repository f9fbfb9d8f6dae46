package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// to_device_messages holds the to-device messages waiting for a local
// device, in the order they arrived (stream_id counts up per device). A
// message is deleted once the device's sync acknowledges it; messages go
// with their device.
const toDeviceMessagesSchema = `
CREATE TABLE to_device_messages (
	user_id    TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	stream_id  BIGINT NOT NULL,
	sender     TEXT NOT NULL,
	event_type TEXT NOT NULL,
	content    TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id, stream_id),
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
)`

// to_device_txns remembers the transaction IDs of /sendToDevice per
// sending device, so that a retried request is not delivered twice.
const toDeviceTxnsSchema = `
CREATE TABLE to_device_txns (
	user_id    TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	txn_id     TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id, txn_id)
)`

// toDeviceTxnsByType gives to_device_txns the event type: the path of a
// request, which a retransmission repeats, holds it ("the path of the
// HTTP request is the same").
func toDeviceTxnsByType() []string {
	return rebuildTable("to_device_txns", `CREATE TABLE to_device_txns_new (
	user_id    TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	event_type TEXT NOT NULL DEFAULT '',
	txn_id     TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id, event_type, txn_id)
)`, "user_id, device_id, txn_id, created_ts")
}

// to_device_positions holds the last stream ID given to a message for each
// device. Kept apart from the messages, which are deleted once delivered,
// so that the stream IDs of a device only ever grow (a client's sync token
// holds the last one it has seen), and kept when the device goes.
const toDevicePositionsSchema = `
CREATE TABLE to_device_positions (
	user_id        TEXT NOT NULL,
	device_id      TEXT NOT NULL,
	last_stream_id BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id)
)`

// ToDeviceMessage is a to-device message waiting for a device.
type ToDeviceMessage struct {
	StreamID  int64
	Sender    id.UserID
	EventType string
	// Content is the message's content (a JSON object).
	Content []byte
}

// AddToDeviceTxn records a /sendToDevice transaction of a device for an
// event type and reports whether it is new (false: the request is a
// retry).
func (t *Tx) AddToDeviceTxn(ctx context.Context, userID id.UserID, deviceID id.DeviceID, eventType, txnID string, createdTS int64) (bool, error) {
	res, err := t.q.ExecContext(ctx, `
		INSERT INTO to_device_txns (user_id, device_id, event_type, txn_id, created_ts) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, device_id, event_type, txn_id) DO NOTHING`,
		string(userID), string(deviceID), eventType, txnID, createdTS)
	if err != nil {
		return false, fmt.Errorf("record to-device transaction %s of %s %s: %w", txnID, userID, deviceID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record to-device transaction %s of %s %s: %w", txnID, userID, deviceID, err)
	}
	return n == 1, nil
}

// AddToDeviceMessage queues a message for a device and returns its stream
// ID. A device that does not exist (any more) gets nothing: ok is false.
func (t *Tx) AddToDeviceMessage(ctx context.Context, userID id.UserID, deviceID id.DeviceID, m ToDeviceMessage) (streamID int64, ok bool, err error) {
	var exists int
	err = t.q.QueryRowContext(ctx, `SELECT 1 FROM devices WHERE user_id = $1 AND device_id = $2`,
		string(userID), string(deviceID)).Scan(&exists)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("queue to-device message for %s %s: %w", userID, deviceID, err)
	}
	// The upsert takes the position row's lock, which serializes the
	// device's stream IDs where several writers could run at once.
	err = t.q.QueryRowContext(ctx, `
		INSERT INTO to_device_positions (user_id, device_id, last_stream_id) VALUES ($1, $2, 1)
		ON CONFLICT (user_id, device_id) DO UPDATE SET last_stream_id = to_device_positions.last_stream_id + 1
		RETURNING last_stream_id`, string(userID), string(deviceID)).Scan(&streamID)
	if err != nil {
		return 0, false, fmt.Errorf("allocate to-device stream ID for %s %s: %w", userID, deviceID, err)
	}
	_, err = t.q.ExecContext(ctx, `
		INSERT INTO to_device_messages (user_id, device_id, stream_id, sender, event_type, content)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		string(userID), string(deviceID), streamID, string(m.Sender), m.EventType, string(m.Content))
	if err != nil {
		return 0, false, fmt.Errorf("queue to-device message for %s %s: %w", userID, deviceID, err)
	}
	return streamID, true, nil
}

// ToDeviceMessages returns at most limit messages of the device with a
// stream ID above after, in order.
func (r reader) ToDeviceMessages(ctx context.Context, userID id.UserID, deviceID id.DeviceID, after int64, limit int) ([]ToDeviceMessage, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT stream_id, sender, event_type, content FROM to_device_messages
		WHERE user_id = $1 AND device_id = $2 AND stream_id > $3 ORDER BY stream_id LIMIT $4`,
		string(userID), string(deviceID), after, limit)
	if err != nil {
		return nil, fmt.Errorf("load to-device messages of %s %s: %w", userID, deviceID, err)
	}
	defer rows.Close()
	var out []ToDeviceMessage
	for rows.Next() {
		var m ToDeviceMessage
		var content string
		if err := rows.Scan(&m.StreamID, &m.Sender, &m.EventType, &content); err != nil {
			return nil, fmt.Errorf("load to-device messages of %s %s: %w", userID, deviceID, err)
		}
		m.Content = []byte(content)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load to-device messages of %s %s: %w", userID, deviceID, err)
	}
	return out, nil
}

// HasToDeviceMessagesUpTo reports whether the device has messages with a
// stream ID of at most upTo (messages its sync has acknowledged).
func (r reader) HasToDeviceMessagesUpTo(ctx context.Context, userID id.UserID, deviceID id.DeviceID, upTo int64) (bool, error) {
	var n int64
	err := r.q.QueryRowContext(ctx, `
		SELECT COUNT(*) FROM (SELECT 1 FROM to_device_messages
		WHERE user_id = $1 AND device_id = $2 AND stream_id <= $3 LIMIT 1) AS acked`,
		string(userID), string(deviceID), upTo).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up acknowledged to-device messages of %s %s: %w", userID, deviceID, err)
	}
	return n > 0, nil
}

// DeleteToDeviceMessages deletes the device's messages with a stream ID of
// at most upTo.
func (t *Tx) DeleteToDeviceMessages(ctx context.Context, userID id.UserID, deviceID id.DeviceID, upTo int64) error {
	_, err := t.q.ExecContext(ctx, `DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2 AND stream_id <= $3`,
		string(userID), string(deviceID), upTo)
	if err != nil {
		return fmt.Errorf("delete to-device messages of %s %s: %w", userID, deviceID, err)
	}
	return nil
}

// ToDevicePosition returns the last stream ID given to a message for the
// device (0 if none ever was).
func (r reader) ToDevicePosition(ctx context.Context, userID id.UserID, deviceID id.DeviceID) (int64, error) {
	var pos int64
	err := r.q.QueryRowContext(ctx, `SELECT last_stream_id FROM to_device_positions WHERE user_id = $1 AND device_id = $2`,
		string(userID), string(deviceID)).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read to-device position of %s %s: %w", userID, deviceID, err)
	}
	return pos, nil
}
