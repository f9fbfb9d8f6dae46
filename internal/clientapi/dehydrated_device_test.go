package clientapi

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// dehydratedPath is the MSC3814 endpoint of the user's dehydrated device.
const dehydratedPath = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"

// dehydratedBody is a PUT /dehydrated_device body for d, with keys signed
// by d as a rehydrating client uploads them.
func dehydratedBody(d *keyDevice, data map[string]any) map[string]any {
	keys := d.deviceKeys()
	return map[string]any{
		"device_id":                   string(d.device),
		"device_data":                 data,
		"initial_device_display_name": "Dehydrated device",
		"device_keys":                 keys,
		"one_time_keys":               d.otks(2),
		"fallback_keys":               map[string]any{"signed_curve25519:F1": d.signedKey(true)},
	}
}

// dehydratedEvents reads a batch of the to-device messages of device.
func dehydratedEvents(e *roomEnv, token string, device id.DeviceID, body any) resp {
	e.t.Helper()
	return e.do("POST", dehydratedPath+"/"+url.PathEscape(string(device))+"/events", token, body)
}

// TestDehydratedDevice follows MSC3814 through the router: a dehydrated
// device uploaded with its keys is an ordinary device for other users
// (keys queried and claimed, to-device messages reach it), its messages
// are read in batches with the endpoint's own token and are not deleted by
// reading, a new upload replaces it with everything it held, and DELETE
// removes it, as does deleting it like any other device.
func TestDehydratedDevice(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice := e.newKeyDevice("alice")
		bob := e.newKeyDevice("bob")
		e.expect(alice.upload(map[string]any{"device_keys": alice.deviceKeys()}), 200, "")

		// Nothing yet.
		e.expect(e.do("GET", dehydratedPath, alice.token, nil), 404, "M_NOT_FOUND")
		e.expect(e.do("DELETE", dehydratedPath, alice.token, nil), 404, "M_NOT_FOUND")
		e.expect(dehydratedEvents(e, alice.token, "NOPE", map[string]any{}), 403, "M_FORBIDDEN")

		data := map[string]any{"algorithm": "m.dehydration.v2", "device_pickle": "opaque", "nonce": "n0nce"}
		// No device may take the ID of a cross-signing key (§ Cross-signing).
		cs := newCrossSigning(t)
		e.expect(e.do("POST", deviceSigningPath, alice.token, cs.body(t, alice.user)), 200, "")
		e.expect(e.do("PUT", dehydratedPath, alice.token, dehydratedBody(e.keyDeviceOf(alice.user, id.DeviceID(cs.master.pub), alice.token), data)), 400, "M_INVALID_PARAM")

		// The device ID is the device's Curve25519 key, with "/" and "+".
		dry := e.keyDeviceOf(alice.user, "c+ur/ve25519KeyOfTheDevice", alice.token)
		put := e.do("PUT", dehydratedPath, alice.token, dehydratedBody(dry, data))
		e.expect(put, 200, "")
		if put.str("device_id") != string(dry.device) {
			t.Fatalf("PUT answered %s", put.raw)
		}
		got := e.do("GET", dehydratedPath, alice.token, nil)
		e.expect(got, 200, "")
		if got.str("device_id") != string(dry.device) || lookup(got.body, "device_data", "device_pickle") != "opaque" {
			t.Fatalf("GET answered %s", got.raw)
		}

		// Other users see it as one of alice's devices and claim its keys.
		q := e.do("POST", "/_matrix/client/v3/keys/query", bob.token, map[string]any{"device_keys": map[string]any{string(alice.user): []string{}}})
		e.expect(q, 200, "")
		if lookup(q.body, "device_keys", string(alice.user), string(dry.device), "keys", "curve25519:"+string(dry.device)) != dry.curve {
			t.Fatalf("keys/query lacks the dehydrated device: %s", q.raw)
		}
		if claimedKeyID(bob.claim(alice.user, dry.device, "signed_curve25519"), alice.user, dry.device) == "" {
			t.Fatal("no one-time key of the dehydrated device could be claimed")
		}

		// Bob sends it more messages than one batch holds, some to all of
		// alice's devices.
		const n = 103
		for i := range n {
			target := string(dry.device)
			if i%2 == 0 {
				target = "*"
			}
			e.expect(e.do("PUT", fmt.Sprintf("/_matrix/client/v3/sendToDevice/m.room.encrypted/t%d", i), bob.token,
				map[string]any{"messages": map[string]any{string(alice.user): map[string]any{target: map[string]any{"i": i}}}}), 200, "")
		}
		readAll := func() []any {
			var all []any
			var body any = map[string]any{}
			for batch := 0; ; batch++ {
				if batch > 3 {
					t.Fatal("the batches do not end")
				}
				r := dehydratedEvents(e, alice.token, dry.device, body)
				e.expect(r, 200, "")
				evs, _ := r.body["events"].([]any)
				if len(evs) > 100 || r.str("next_batch") == "" {
					t.Fatalf("batch %d: %d events, next_batch %q", batch, len(evs), r.str("next_batch"))
				}
				if len(evs) == 0 {
					return all
				}
				all = append(all, evs...)
				body = map[string]any{"next_batch": r.str("next_batch")}
			}
		}
		all := readAll()
		if len(all) != n {
			t.Fatalf("read %d messages, want %d", len(all), n)
		}
		for i, ev := range all {
			if lookup(ev, "content", "i") != float64(i) || lookup(ev, "sender") != string(bob.user) || lookup(ev, "type") != "m.room.encrypted" {
				t.Fatalf("message %d is %v", i, ev)
			}
		}
		if again := readAll(); len(again) != n {
			t.Fatalf("a second rehydration reads %d messages, want %d (reading must not delete them)", len(again), n)
		}

		// Refusals.
		e.expect(dehydratedEvents(e, alice.token, dry.device, map[string]any{"next_batch": "s12"}), 400, "M_INVALID_PARAM")
		e.expect(dehydratedEvents(e, alice.token, dry.device, map[string]any{"next_batch": 12}), 400, "M_BAD_JSON")
		e.expect(dehydratedEvents(e, alice.token, alice.device, nil), 403, "M_FORBIDDEN")
		e.expect(dehydratedEvents(e, bob.token, dry.device, nil), 403, "M_FORBIDDEN")
		other := e.keyDeviceOf(alice.user, "OTHERDEVICE", alice.token)
		for _, tc := range []struct {
			name    string
			body    map[string]any
			errcode string
		}{
			{"no device_id", map[string]any{"device_data": data, "device_keys": other.deviceKeys()}, "M_MISSING_PARAM"},
			{"no device_data", map[string]any{"device_id": "OTHERDEVICE", "device_keys": other.deviceKeys()}, "M_MISSING_PARAM"},
			{"no device_keys", map[string]any{"device_id": "OTHERDEVICE", "device_data": data}, "M_MISSING_PARAM"},
			{"device_data without algorithm", map[string]any{"device_id": "OTHERDEVICE", "device_data": map[string]any{}, "device_keys": other.deviceKeys()}, "M_INVALID_PARAM"},
			{"device_data not an object", map[string]any{"device_id": "OTHERDEVICE", "device_data": "x", "device_keys": other.deviceKeys()}, "M_INVALID_PARAM"},
			{"empty device_id", map[string]any{"device_id": "", "device_data": data, "device_keys": other.deviceKeys()}, "M_INVALID_PARAM"},
			{"keys of another device", map[string]any{"device_id": "ANOTHER", "device_data": data, "device_keys": other.deviceKeys()}, "M_INVALID_PARAM"},
			{"keys of another user", map[string]any{"device_id": string(bob.device), "device_data": data, "device_keys": bob.deviceKeys()}, "M_INVALID_PARAM"},
			{"ID of a device in use", dehydratedBody(e.keyDeviceOf(alice.user, alice.device, alice.token), data), "M_INVALID_PARAM"},
		} {
			r := e.do("PUT", dehydratedPath, alice.token, tc.body)
			if r.status != 400 || r.str("errcode") != tc.errcode {
				t.Errorf("%s: %d %s, want 400 %s", tc.name, r.status, r.raw, tc.errcode)
			}
		}
		if got := e.do("GET", dehydratedPath, alice.token, nil); got.str("device_id") != string(dry.device) {
			t.Fatalf("a refused upload changed the dehydrated device: %s", got.raw)
		}

		// A new upload replaces the device and everything it held.
		dry2 := e.keyDeviceOf(alice.user, "SecondDehydratedDevice", alice.token)
		e.expect(e.do("PUT", dehydratedPath, alice.token, dehydratedBody(dry2, data)), 200, "")
		e.expect(dehydratedEvents(e, alice.token, dry.device, nil), 403, "M_FORBIDDEN")
		r := dehydratedEvents(e, alice.token, dry2.device, nil)
		if evs, _ := r.body["events"].([]any); r.status != 200 || len(evs) != 0 {
			t.Fatalf("the new dehydrated device starts with %s", r.raw)
		}
		q = e.do("POST", "/_matrix/client/v3/keys/query", bob.token, map[string]any{"device_keys": map[string]any{string(alice.user): []string{}}})
		if lookup(q.body, "device_keys", string(alice.user), string(dry.device)) != nil || lookup(q.body, "device_keys", string(alice.user), string(dry2.device)) == nil {
			t.Fatalf("keys/query after the replacement: %s", q.raw)
		}
		devs := e.do("GET", "/_matrix/client/v3/devices", alice.token, nil)
		if n := len(devs.body["devices"].([]any)); n != 2 {
			t.Fatalf("alice has %d devices after the replacement, want her own and the dehydrated one: %s", n, devs.raw)
		}

		del := e.do("DELETE", dehydratedPath, alice.token, nil)
		e.expect(del, 200, "")
		if del.str("device_id") != string(dry2.device) {
			t.Fatalf("DELETE answered %s", del.raw)
		}
		e.expect(e.do("GET", dehydratedPath, alice.token, nil), 404, "M_NOT_FOUND")
		devs = e.do("GET", "/_matrix/client/v3/devices", alice.token, nil)
		if n := len(devs.body["devices"].([]any)); n != 1 {
			t.Fatalf("alice has %d devices after DELETE, want 1: %s", n, devs.raw)
		}

		// Deleting it as a device (with User-Interactive Authentication)
		// deletes the dehydrated device too.
		dry3 := e.keyDeviceOf(alice.user, "ThirdDehydratedDevice", alice.token)
		e.expect(e.do("PUT", dehydratedPath, alice.token, dehydratedBody(dry3, data)), 200, "")
		devPath := "/_matrix/client/v3/devices/" + string(dry3.device)
		c := e.do("DELETE", devPath, alice.token, nil)
		e.expect(c, 401, "")
		e.expect(e.do("DELETE", devPath, alice.token, map[string]any{"auth": passwordAuth("alice", "pw-alice", c.str("session"))}), 200, "")
		e.expect(e.do("GET", dehydratedPath, alice.token, nil), 404, "M_NOT_FOUND")
		e.expect(dehydratedEvents(e, alice.token, dry3.device, nil), 403, "M_FORBIDDEN")
	})
}
