package serverkeys

// Spec: Server-Server API § Publishing Keys
// https://spec.matrix.org/v1.19/server-server-api/#publishing-keys

import (
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/signing"
)

// OwnResponse returns this server's key response, as GET
// /_matrix/key/v2/server serves it: the current key under verify_keys, the
// keys of the key history under old_verify_keys with the time each
// stopped being used, valid_until_ts OwnValidity after it was made, signed
// with the current key. The response is reused until half its validity
// has passed, so it never expires in less than half of OwnValidity.
func (k *Keys) OwnResponse() ([]byte, error) {
	now := k.nowMS()
	half := k.ownValidity.Milliseconds() / 2
	k.mu.Lock()
	if k.ownResp != nil && now < k.ownUntil-half {
		resp := k.ownResp
		k.mu.Unlock()
		return resp, nil
	}
	k.mu.Unlock()

	type verifyKey struct {
		Key string `json:"key"`
	}
	type oldVerifyKey struct {
		Key       string `json:"key"`
		ExpiredTS int64  `json:"expired_ts"`
	}
	until := now + k.ownValidity.Milliseconds()
	obj := struct {
		ServerName    string                  `json:"server_name"`
		ValidUntilTS  int64                   `json:"valid_until_ts"`
		VerifyKeys    map[string]verifyKey    `json:"verify_keys"`
		OldVerifyKeys map[string]oldVerifyKey `json:"old_verify_keys"`
	}{
		ServerName:    string(k.key.ServerName),
		ValidUntilTS:  until,
		VerifyKeys:    map[string]verifyKey{string(k.key.KeyID): {signing.EncodeBase64(k.key.Public())}},
		OldVerifyKeys: map[string]oldVerifyKey{},
	}
	for kid, vk := range k.ownOld {
		obj.OldVerifyKeys[string(kid)] = oldVerifyKey{signing.EncodeBase64(vk.Public), vk.ExpiredTS}
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode own key response: %w", err)
	}
	signed, err := signing.SignJSON(raw, k.key)
	if err != nil {
		return nil, fmt.Errorf("sign own key response: %w", err)
	}
	k.mu.Lock()
	k.ownResp, k.ownUntil = signed, until
	k.mu.Unlock()
	return signed, nil
}
