// Spec: Client-Server API § Avoiding duplicate annotations, § Validation of m.thread relationships
// https://spec.matrix.org/v1.19/client-server-api/#avoiding-duplicate-annotations
// https://spec.matrix.org/v1.19/client-server-api/#validation-of-mthread-relationships

package clientapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// checkRelation applies the checks the spec asks of a client's event that
// declares a relationship (content m.relates_to), before it is sent:
//   - a parent this server has must be in the same room (400 M_UNKNOWN);
//   - a second annotation with the same event type and key on the same
//     parent by the same user, the first not redacted, is refused (400
//     M_DUPLICATE_ANNOTATION);
//   - a thread may not start off an event that is itself related to
//     another (400 M_UNKNOWN).
//
// A parent this server does not have passes: the client may know of it
// before the server does. Events from other servers are not checked; the
// spec leaves clients to cope with what arrives over federation.
func (a *roomAPI) checkRelation(ctx context.Context, roomID id.RoomID, sender id.UserID, typ string, content json.RawMessage) error {
	relType, parentID, key, ok := room.RelationOf(content)
	if !ok {
		return nil
	}
	parent, err := a.db.Event(ctx, parentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if parent.RoomID != roomID {
		return matrixerr.Unknown("the related event is in another room")
	}
	switch relType {
	case "m.annotation":
		dup, err := a.db.HasAnnotation(ctx, parentID, typ, sender, key)
		if err != nil {
			return err
		}
		if dup {
			return matrixerr.New(matrixerr.KindDuplicateAnnotation, "you already annotated this event with this key")
		}
	case "m.thread":
		// A redaction removes the parent's relation.
		if _, _, _, related := room.RelationOf(event.RawContent(parent.JSON)); related && parent.RedactedBecause == "" {
			return matrixerr.Unknown("a thread cannot start from an event that is related to another")
		}
	}
	return nil
}
