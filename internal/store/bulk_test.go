package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestInsertRowsManyStatements checks that a multi-row insert longer than
// one statement's parameters allow stores every row with its own values,
// NULLs and booleans included, in every statement.
func TestInsertRowsManyStatements(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		n := 2*db.d.maxParams()/4 + 5 // three statements of four columns
		ns := make([]Notification, n)
		for i := range ns {
			ns[i] = Notification{
				UserID:    id.UserID(fmt.Sprintf("@user%04d:hafen.test", i)),
				StreamPos: int64(i + 1),
				Actions:   []byte(defaultNotificationActions),
				Highlight: i%3 == 0,
			}
			if i%2 == 1 {
				ns[i].Actions = []byte(fmt.Sprintf(`["notify",{"set_tweak":"sound","value":"s%d"}]`, i))
			}
		}
		write(t, db.Derived(), func(tx *Tx) error { return tx.AddNotifications(ctx, ns) })
		rows, err := db.Derived().q.QueryContext(ctx, `SELECT user_id, stream_pos, actions, highlight FROM user_notifications`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		seen := 0
		for rows.Next() {
			var user string
			var pos int64
			var actions *string
			var highlight bool
			if err := rows.Scan(&user, &pos, &actions, &highlight); err != nil {
				t.Fatal(err)
			}
			i := int(pos - 1)
			if i < 0 || i >= n {
				t.Fatalf("row at stream position %d, want 1 to %d", pos, n)
			}
			want := ns[i]
			wantActions := ""
			if i%2 == 1 {
				wantActions = string(want.Actions)
			}
			gotActions := ""
			if actions != nil {
				gotActions = *actions
			}
			if user != string(want.UserID) || highlight != want.Highlight || gotActions != wantActions {
				t.Errorf("row %d = %s %q %v, want %s %q %v", i, user, gotActions, highlight, want.UserID, wantActions, want.Highlight)
			}
			seen++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if seen != n {
			t.Errorf("%d rows stored, want %d", seen, n)
		}
	})
}
