// gorilla_echo: a minimal WebSocket echo server on gorilla/websocket (Debian's
// golang-github-gorilla-websocket-dev), a peer for bench/compare_all.sh.
//
//	gorilla_echo [--port P]      # 0 (the default) picks a free port
//
// One OS thread runs Go code (GOMAXPROCS 1); a goroutine per connection reads a message and
// writes it back unchanged (same message type, same payload). Any path is accepted; compression
// is off. Prints "gorilla_echo listening on 127.0.0.1:PORT" once it listens.
//
// Built offline against Debian's packaged sources, no module download:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o build/peers/gorilla_echo bench/peers/gorilla_echo.go
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	// Load clients send no Origin worth checking; accept every one.
	CheckOrigin: func(*http.Request) bool { return true },
}

func echo(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has already answered with an HTTP error
	}
	defer conn.Close()
	conn.SetReadLimit(1 << 20) // ringway's default --max-message-size
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := conn.WriteMessage(kind, data); err != nil {
			return
		}
	}
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0 picks a free one)")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gorilla_echo:", err)
		os.Exit(1)
	}
	fmt.Printf("gorilla_echo listening on %s\n", ln.Addr().String())
	os.Stdout.Sync()
	// net/http backs off and retries on accept errors such as EMFILE.
	if err := http.Serve(ln, http.HandlerFunc(echo)); err != nil {
		fmt.Fprintln(os.Stderr, "gorilla_echo:", err)
		os.Exit(1)
	}
}
