package store

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

func TestRooms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		r := Room{RoomID: "!a:hafen.test", RoomVersion: "11", Creator: alice, CreatedTS: 5}
		write(t, db, func(tx *Tx) error {
			if err := tx.CreateRoom(ctx, r); err != nil {
				return err
			}
			return tx.CreateRoom(ctx, Room{RoomID: "!b:hafen.test", RoomVersion: "10", Creator: alice, CreatedTS: 6, IsPublic: true})
		})
		if err := db.Write(ctx, func(tx *Tx) error { return tx.CreateRoom(ctx, r) }); !errors.Is(err, ErrExists) {
			t.Errorf("CreateRoom twice = %v, want ErrExists", err)
		}
		if got, err := db.Room(ctx, r.RoomID); err != nil || got != r {
			t.Errorf("Room = %+v, %v; want %+v", got, err, r)
		}
		if _, err := db.Room(ctx, "!nope:hafen.test"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Room(unknown) = %v, want ErrNotFound", err)
		}
		write(t, db, func(tx *Tx) error { return tx.SetRoomPublic(ctx, r.RoomID, true) })
		pub, err := db.PublicRooms(ctx, "", 10)
		if want := []id.RoomID{"!a:hafen.test", "!b:hafen.test"}; err != nil || !slices.Equal(pub, want) {
			t.Errorf("PublicRooms = %v, %v; want %v", pub, err, want)
		}
		pub, err = db.PublicRooms(ctx, "!a:hafen.test", 10)
		if want := []id.RoomID{"!b:hafen.test"}; err != nil || !slices.Equal(pub, want) {
			t.Errorf("PublicRooms since !a = %v, %v; want %v", pub, err, want)
		}
	})
}

func TestRoomAliases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a := RoomAlias{Alias: "#a:hafen.test", RoomID: "!a:hafen.test", Creator: alice}
		write(t, db, func(tx *Tx) error {
			if err := tx.CreateRoomAlias(ctx, a); err != nil {
				return err
			}
			return tx.CreateRoomAlias(ctx, RoomAlias{Alias: "#b:hafen.test", RoomID: a.RoomID, Creator: alice})
		})
		if err := db.Write(ctx, func(tx *Tx) error { return tx.CreateRoomAlias(ctx, a) }); !errors.Is(err, ErrExists) {
			t.Errorf("CreateRoomAlias twice = %v, want ErrExists", err)
		}
		if got, err := db.RoomAlias(ctx, a.Alias); err != nil || got != a {
			t.Errorf("RoomAlias = %+v, %v; want %+v", got, err, a)
		}
		aliases, err := db.RoomAliases(ctx, a.RoomID)
		if want := []id.RoomAlias{"#a:hafen.test", "#b:hafen.test"}; err != nil || !slices.Equal(aliases, want) {
			t.Errorf("RoomAliases = %v, %v; want %v", aliases, err, want)
		}
		write(t, db, func(tx *Tx) error { return tx.DeleteRoomAlias(ctx, a.Alias) })
		if _, err := db.RoomAlias(ctx, a.Alias); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted alias: %v, want ErrNotFound", err)
		}
		if err := db.Write(ctx, func(tx *Tx) error { return tx.DeleteRoomAlias(ctx, a.Alias) }); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteRoomAlias twice = %v, want ErrNotFound", err)
		}
	})
}

func TestExtremities(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		room := id.RoomID("!a:hafen.test")
		write(t, db, func(tx *Tx) error { return tx.SetExtremities(ctx, room, []id.EventID{"$b", "$a", "$b"}) })
		if got, err := db.Extremities(ctx, room); err != nil || !slices.Equal(got, []id.EventID{"$a", "$b"}) {
			t.Errorf("Extremities = %v, %v; want [$a $b]", got, err)
		}
		write(t, db, func(tx *Tx) error {
			if err := tx.SetExtremities(ctx, room, []id.EventID{"$c"}); err != nil {
				return err
			}
			// Inside the transaction, the new extremities are visible.
			got, err := tx.Extremities(ctx, room)
			if err != nil || !slices.Equal(got, []id.EventID{"$c"}) {
				t.Errorf("Tx.Extremities = %v, %v; want [$c]", got, err)
			}
			return nil
		})
		write(t, db, func(tx *Tx) error { return tx.SetExtremities(ctx, "!other:hafen.test", []id.EventID{"$x"}) })
		if got, err := db.Extremities(ctx, room); err != nil || !slices.Equal(got, []id.EventID{"$c"}) {
			t.Errorf("Extremities after replace = %v, %v; want [$c]", got, err)
		}
	})
}
