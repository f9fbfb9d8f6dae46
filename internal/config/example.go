package config

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
)

//go:embed example.yaml
var example []byte

// Example returns the commented example configuration: every setting with
// its documentation and its default value, commented out.
func Example() []byte { return append([]byte(nil), example...) }

// WriteExample writes Example to path, creating its directory, and fails if
// the file already exists. The file is private to its owner (mode 0600)
// because operators put secrets in it.
func WriteExample(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create config file: %w", err)
	}
	if _, err := f.Write(example); err != nil {
		f.Close()
		return fmt.Errorf("write config file: %w", err)
	}
	return f.Close()
}
