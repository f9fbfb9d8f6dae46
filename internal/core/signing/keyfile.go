package signing

import (
	"bytes"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// MarshalKeyFile writes keys in the format of Synapse's signing key file
// (signedjson's write_signing_keys): one line per key,
//
//	ed25519 <version> <unpadded base64 of the 32-byte seed>
//
// so that an operator can move a key between Synapse and Hafen.
func MarshalKeyFile(keys ...Key) ([]byte, error) {
	var b bytes.Buffer
	for _, k := range keys {
		if err := checkEd25519KeyID(k.KeyID); err != nil {
			return nil, err
		}
		if len(k.Private) != 64 {
			return nil, fmt.Errorf("%w: private key of %s is %d bytes", ErrInvalidKey, k.KeyID, len(k.Private))
		}
		b.WriteString(k.KeyID.Algorithm())
		b.WriteByte(' ')
		b.WriteString(k.KeyID.Version())
		b.WriteByte(' ')
		b.WriteString(EncodeBase64(k.Seed()))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// ParseKeyFile reads a signing key file as written by MarshalKeyFile or
// Synapse: lines of "ed25519 <version> <base64 seed>" separated by spaces
// or tabs. Blank lines are skipped. The keys sign for server.
func ParseKeyFile(data []byte, server id.ServerName) ([]Key, error) {
	var keys []Key
	for n, line := range bytes.Split(data, []byte("\n")) {
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("%w: line %d has %d fields, want 3", ErrInvalidKeyFile, n+1, len(fields))
		}
		keyID, err := ParseKeyID(string(fields[0]) + ":" + string(fields[1]))
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrInvalidKeyFile, n+1, err)
		}
		seed, err := DecodeBase64(string(fields[2]))
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrInvalidKeyFile, n+1, err)
		}
		k, err := KeyFromSeed(server, keyID, seed)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrInvalidKeyFile, n+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrInvalidKeyFile)
	}
	return keys, nil
}
