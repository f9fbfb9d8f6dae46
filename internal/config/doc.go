// Package config owns Hafen's configuration: the Config struct, whose doc
// comments are the operator documentation, its defaults, loading (defaults
// → YAML file → HAFEN_* environment variables → command-line flags),
// validation that reports every problem at once, and the commented example
// file that `hafen serve` writes on first run.
//
// The example file (example.yaml, returned by Example) is generated from
// the doc comments of config.go; a test fails when it drifts. Regenerate it
// with
//
//	go test ./internal/config -run TestExampleIsGenerated -update
//
// The package reads files and the environment it is given; it opens no
// network connections and starts nothing.
package config
