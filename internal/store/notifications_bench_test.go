package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// BenchmarkAddNotifications measures storing the notifications of one
// message in a room of 100 members (99 rows), as the push notifier does
// for every message there.
func BenchmarkAddNotifications(b *testing.B) {
	ctx := context.Background()
	db, err := OpenWith(ctx, filepath.Join(b.TempDir(), "bench.db"), testLogger(), Options{SQLiteSynchronous: SQLiteSyncNormal})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	users := make([]id.UserID, 99)
	for i := range users {
		users[i] = id.UserID(fmt.Sprintf("@user%03d:hafen.test", i))
	}
	b.ResetTimer()
	for i := range b.N {
		ns := make([]Notification, len(users))
		for j, u := range users {
			ns[j] = Notification{UserID: u, StreamPos: int64(i + 1), Actions: []byte(defaultNotificationActions)}
		}
		write(b, db.Derived(), func(tx *Tx) error { return tx.AddNotifications(ctx, ns) })
	}
	b.ReportMetric(float64(b.N*len(users))/b.Elapsed().Seconds(), "rows/s")
}
