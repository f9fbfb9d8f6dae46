//go:build tools

package depsanchor

import (
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/matrix-org/gomatrixserverlib"
	_ "gopkg.in/yaml.v3"
	_ "maunium.net/go/mautrix"
	_ "modernc.org/sqlite"
	_ "golang.org/x/crypto/bcrypt"
)
