package e2ee

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// TestDeviceListEDUs builds the EDUs of a local user's device list
// changes as the federation sender sends them: each device change carries
// its stream ID and the previous device change's as prev_id, a removed
// device is deleted, a cross-signing key change is a signing key update,
// and /user/devices answers with the last device change's stream ID.
// Changes of other servers' users give no EDU.
func TestDeviceListEDUs(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := openStore(t, dsn)
		s := &Service{DB: db, ServerName: "hafen.test"}
		alice := id.UserID("@alice:hafen.test")
		d1 := newDevice(t, db, alice, "D1")
		if _, err := s.UploadKeys(ctx, alice, "D1", Upload{DeviceKeys: d1.deviceKeys(t)}); err != nil {
			t.Fatal(err)
		}
		if err := db.Write(ctx, func(tx *store.Tx) error { return tx.CreateDevice(ctx, store.Device{UserID: alice, DeviceID: "D2"}) }); err != nil {
			t.Fatal(err)
		}
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		d2 := &testDevice{user: alice, device: "D2", priv: priv}
		if _, err := s.UploadKeys(ctx, alice, "D2", Upload{DeviceKeys: d2.deviceKeys(t)}); err != nil {
			t.Fatal(err)
		}
		pub := randomKey(t)
		if err := s.UploadCrossSigningKeys(ctx, alice, CrossSigningUpload{Master: mustJSON(t, map[string]any{
			"user_id": alice, "usage": []string{"master"}, "keys": map[string]string{"ed25519:" + pub: pub}})}); err != nil {
			t.Fatal(err)
		}
		if err := db.Write(ctx, func(tx *store.Tx) error {
			if err := tx.DeleteDevice(ctx, alice, "D1"); err != nil {
				return err
			}
			_, err := tx.AddDeviceListChange(ctx, "@bob:other.test", "B1")
			return err
		}); err != nil {
			t.Fatal(err)
		}

		changes, err := db.DeviceListChangesAfter(ctx, 0, 100)
		if err != nil || len(changes) != 5 {
			t.Fatalf("changes = %+v, %v; want 5", changes, err)
		}
		type update struct {
			UserID   id.UserID       `json:"user_id"`
			DeviceID id.DeviceID     `json:"device_id"`
			StreamID int64           `json:"stream_id"`
			PrevID   []int64         `json:"prev_id"`
			Deleted  bool            `json:"deleted"`
			Keys     json.RawMessage `json:"keys"`
			Master   json.RawMessage `json:"master_key"`
		}
		var types []string
		var ups []update
		for _, c := range changes {
			typ, content, err := s.DeviceListEDU(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			var u update
			if typ != "" {
				if err := json.Unmarshal(content, &u); err != nil {
					t.Fatal(err)
				}
			}
			types, ups = append(types, typ), append(ups, u)
		}
		want := []string{"m.device_list_update", "m.device_list_update", "m.signing_key_update", "m.device_list_update", ""}
		if !slices.Equal(types, want) {
			t.Fatalf("EDU types = %q, want %q", types, want)
		}
		// D1 is gone by the time its first change is announced: it goes
		// out as deleted, the state the destination must end in.
		if u := ups[0]; u.DeviceID != "D1" || !u.Deleted || u.StreamID != changes[0].StreamID || len(u.PrevID) != 0 {
			t.Errorf("first update = %+v, want D1 at %d without prev_id", u, changes[0].StreamID)
		}
		if u := ups[1]; u.DeviceID != "D2" || u.Deleted || len(u.Keys) == 0 || !slices.Equal(u.PrevID, []int64{changes[0].StreamID}) {
			t.Errorf("D2's update = %+v, want its keys after %d", u, changes[0].StreamID)
		}
		if u := ups[2]; u.UserID != alice || len(u.Master) == 0 {
			t.Errorf("signing key update = %+v", u)
		}
		if u := ups[3]; u.DeviceID != "D1" || !u.Deleted || !slices.Equal(u.PrevID, []int64{changes[1].StreamID}) {
			t.Errorf("D1's removal = %+v, want deleted after %d (the signing key change is not a device change)", u, changes[1].StreamID)
		}
		devs, err := s.LocalUserDevices(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if devs.StreamID != changes[3].StreamID || len(devs.Devices) != 1 || devs.Devices[0].DeviceID != "D2" || len(devs.MasterKey) == 0 {
			t.Errorf("/user/devices = %+v, want D2 and the master key at stream %d", devs, changes[3].StreamID)
		}
	})
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
