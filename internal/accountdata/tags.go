package accountdata

// Spec: Client-Server API § Room Tagging
// https://spec.matrix.org/v1.19/client-server-api/#room-tagging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// tagContent is the content of m.tag.
type tagContent struct {
	Tags map[string]json.RawMessage `json:"tags"`
}

// Tags returns the user's tags of a room as m.tag's "tags" object (empty
// when there are none).
func (s *Service) Tags(ctx context.Context, user id.UserID, roomID id.RoomID) (map[string]json.RawMessage, error) {
	raw, err := s.Get(ctx, user, roomID, TypeTags)
	if errors.Is(err, ErrNotFound) {
		return map[string]json.RawMessage{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c tagContent
	_ = json.Unmarshal(raw, &c) // stored content is an object; unreadable tags read as none
	if c.Tags == nil {
		c.Tags = map[string]json.RawMessage{}
	}
	return c.Tags, nil
}

// SetTag adds or replaces a tag of a room. body is the tag's object; its
// "order", if present, must be a number.
func (s *Service) SetTag(ctx context.Context, user id.UserID, roomID id.RoomID, tag string, body json.RawMessage) error {
	if tag == "" || len(tag) > maxTypeLength {
		return fmt.Errorf("%w: tag must have 1 to %d bytes", ErrInvalid, maxTypeLength)
	}
	var t map[string]json.RawMessage
	if json.Unmarshal(body, &t) != nil || t == nil {
		return fmt.Errorf("%w: tag must be a JSON object", ErrInvalid)
	}
	if o, ok := t["order"]; ok {
		var f float64
		if json.Unmarshal(o, &f) != nil {
			return fmt.Errorf("%w: order must be a number", ErrInvalid)
		}
	}
	return s.editTags(ctx, user, roomID, func(tags map[string]json.RawMessage) { tags[tag] = body })
}

// DeleteTag removes a tag of a room; removing a tag the room does not have
// succeeds.
func (s *Service) DeleteTag(ctx context.Context, user id.UserID, roomID id.RoomID, tag string) error {
	return s.editTags(ctx, user, roomID, func(tags map[string]json.RawMessage) { delete(tags, tag) })
}

func (s *Service) editTags(ctx context.Context, user id.UserID, roomID id.RoomID, edit func(map[string]json.RawMessage)) error {
	return s.write(ctx, user, roomID, TypeTags, func(cur json.RawMessage) (json.RawMessage, error) {
		var c tagContent
		if cur != nil {
			_ = json.Unmarshal(cur, &c) // unreadable tags start afresh
		}
		if c.Tags == nil {
			c.Tags = map[string]json.RawMessage{}
		}
		edit(c.Tags)
		return json.Marshal(c)
	})
}
