// Package testnet gives tests loopback addresses to listen on.
package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
)

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago,
// for a server the test starts that must know its address before it
// listens (a federation server is named after it). The port is picked
// below Linux's ephemeral range (32768–60999): a port the kernel hands
// out for 127.0.0.1:0 may be handed out again, as the source port of an
// outgoing connection, between this check and the server's own listen.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
