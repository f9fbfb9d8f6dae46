package e2ee

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// Key algorithms the server checks. Other algorithms are stored as
// uploaded.
const (
	algEd25519          = "ed25519"
	algCurve25519       = "curve25519"
	algSignedCurve25519 = "signed_curve25519"
)

// algorithmRE is the shape Hafen accepts for an algorithm name (one-time
// key algorithms such as "signed_curve25519", device algorithms such as
// "m.olm.v1.curve25519-aes-sha2").
var algorithmRE = regexp.MustCompile(`^[A-Za-z0-9._\-]{1,255}$`)

// keyIDRE is the shape of the part of a key ID after the algorithm.
var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9+/=._~\-]{1,255}$`)

// ValidAlgorithm reports whether s is a well-formed algorithm name.
func ValidAlgorithm(s string) bool { return algorithmRE.MatchString(s) }

// splitKeyID splits "algorithm:key_id".
func splitKeyID(s string) (alg, keyID string, err error) {
	alg, keyID, ok := strings.Cut(s, ":")
	if !ok || !algorithmRE.MatchString(alg) || !keyIDRE.MatchString(keyID) {
		return "", "", fmt.Errorf("%w: key ID %q is not algorithm:key_id", ErrInvalid, s)
	}
	return alg, keyID, nil
}

// decodeKey decodes an unpadded base64 public key of 32 bytes (ed25519
// and curve25519 keys).
func decodeKey(what, s string) ([]byte, error) {
	b, err := signing.DecodeBase64(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %s is not a base64 32-byte key", ErrInvalid, what)
	}
	return b, nil
}

// signedBy checks the signature of user's key keyID ("ed25519:…") on the
// JSON object obj.
func signedBy(obj []byte, user id.UserID, keyID string, pub ed25519.PublicKey) error {
	// Signatures of users sit under the user ID where those of servers sit
	// under the server name: the procedure is the same.
	if err := signing.VerifyJSON(obj, id.ServerName(user), signing.KeyID(keyID), pub); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	return nil
}

// deviceKeys is the spec's DeviceKeys object.
type deviceKeys struct {
	UserID     id.UserID                    `json:"user_id"`
	DeviceID   id.DeviceID                  `json:"device_id"`
	Algorithms []string                     `json:"algorithms"`
	Keys       map[string]string            `json:"keys"`
	Signatures map[string]map[string]string `json:"signatures"`
}

// parseDeviceKeys checks a DeviceKeys object uploaded by user's device:
// IDs, algorithms and keys well formed, and self-signed by the device's
// ed25519 key. It returns the object and the device's ed25519 key.
func parseDeviceKeys(raw json.RawMessage, user id.UserID, device id.DeviceID) (deviceKeys, ed25519.PublicKey, error) {
	var dk deviceKeys
	if err := json.Unmarshal(raw, &dk); err != nil {
		return deviceKeys{}, nil, fmt.Errorf("%w: device_keys: %w", ErrInvalid, err)
	}
	if dk.UserID != user {
		return deviceKeys{}, nil, fmt.Errorf("%w: device_keys.user_id %q is not the requester %s", ErrInvalid, dk.UserID, user)
	}
	if dk.DeviceID != device {
		return deviceKeys{}, nil, fmt.Errorf("%w: device_keys.device_id %q is not the requester's device %s", ErrInvalid, dk.DeviceID, device)
	}
	if len(dk.Algorithms) == 0 {
		return deviceKeys{}, nil, fmt.Errorf("%w: device_keys.algorithms is empty", ErrInvalid)
	}
	for _, a := range dk.Algorithms {
		if !algorithmRE.MatchString(a) {
			return deviceKeys{}, nil, fmt.Errorf("%w: device_keys.algorithms: malformed algorithm %q", ErrInvalid, a)
		}
	}
	if len(dk.Keys) == 0 {
		return deviceKeys{}, nil, fmt.Errorf("%w: device_keys.keys is empty", ErrInvalid)
	}
	var pub ed25519.PublicKey
	for name, val := range dk.Keys {
		alg, kid, err := splitKeyID(name)
		if err != nil {
			return deviceKeys{}, nil, err
		}
		if kid != string(device) {
			return deviceKeys{}, nil, fmt.Errorf("%w: device_keys.keys: %q is not named after the device", ErrInvalid, name)
		}
		switch alg {
		case algEd25519, algCurve25519:
			b, err := decodeKey("device_keys.keys."+name, val)
			if err != nil {
				return deviceKeys{}, nil, err
			}
			if alg == algEd25519 {
				pub = b
			}
		}
	}
	if pub == nil {
		return deviceKeys{}, nil, fmt.Errorf("%w: device_keys.keys has no ed25519:%s key", ErrInvalid, device)
	}
	if err := signedBy(raw, user, algEd25519+":"+string(device), pub); err != nil {
		return deviceKeys{}, nil, fmt.Errorf("device_keys not self-signed: %w", err)
	}
	return dk, pub, nil
}

// deviceEd25519 returns the device's ed25519 key from its stored
// DeviceKeys object.
func deviceEd25519(raw []byte, device id.DeviceID) (ed25519.PublicKey, error) {
	var dk deviceKeys
	if err := json.Unmarshal(raw, &dk); err != nil {
		return nil, fmt.Errorf("stored device keys of %s: %w", device, err)
	}
	return decodeKey("ed25519 key of "+string(device), dk.Keys[algEd25519+":"+string(device)])
}

// checkOneTimeKey checks a one-time or fallback key "alg:key_id" → value
// of user's device whose ed25519 key is pub (nil when the device has
// published none). Signed keys must carry the device's valid signature;
// curve25519 keys are bare strings; other algorithms are taken as they
// are (strings or objects).
func checkOneTimeKey(name string, val json.RawMessage, user id.UserID, device id.DeviceID, pub ed25519.PublicKey) (alg, keyID string, err error) {
	alg, keyID, err = splitKeyID(name)
	if err != nil {
		return "", "", err
	}
	switch {
	case alg == algCurve25519:
		var s string
		if err := json.Unmarshal(val, &s); err != nil {
			return "", "", fmt.Errorf("%w: key %s is not a string", ErrInvalid, name)
		}
		if _, err := decodeKey("key "+name, s); err != nil {
			return "", "", err
		}
	case alg == algSignedCurve25519:
		var k struct {
			Key string `json:"key"`
		}
		if err := json.Unmarshal(val, &k); err != nil {
			return "", "", fmt.Errorf("%w: key %s is not a KeyObject", ErrInvalid, name)
		}
		if _, err := decodeKey("key "+name, k.Key); err != nil {
			return "", "", err
		}
		if pub == nil {
			return "", "", fmt.Errorf("%w: signed key %s uploaded before the device's identity keys", ErrInvalidSignature, name)
		}
		if err := signedBy(val, user, algEd25519+":"+string(device), pub); err != nil {
			return "", "", fmt.Errorf("key %s: %w", name, err)
		}
	default:
		if len(val) == 0 || (val[0] != '"' && val[0] != '{') {
			return "", "", fmt.Errorf("%w: key %s is neither a string nor an object", ErrInvalid, name)
		}
	}
	return alg, keyID, nil
}
