// gorilla_broadcast: a minimal WebSocket broadcast server on gorilla/websocket (Debian's
// golang-github-gorilla-websocket-dev), a peer for bench/fanout_compare.sh.
//
//	gorilla_broadcast [--port P]      # 0 (the default) picks a free port
//
// Every text message received on a connection is sent to every other open connection. The
// shape is gorilla's chat example: one hub goroutine owns the set of clients; each connection
// has a read pump that hands messages to the hub and a write pump that drains a buffered
// channel, one frame per message. A client whose channel is full is dropped by the hub, as in
// the example. Each message is framed once, as a PreparedMessage (gorilla's API for sending one
// payload to many connections). GOMAXPROCS 1, as gorilla_echo. Prints "gorilla_broadcast listening on
// 127.0.0.1:PORT" once it listens.
//
// Built offline against Debian's packaged sources, no module download:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o build/peers/gorilla_broadcast bench/peers/gorilla_broadcast.go
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

// Messages a client may have queued before the hub drops it (the chat example's 256).
const sendBuffer = 256

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	CheckOrigin:     func(*http.Request) bool { return true },
}

type client struct {
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
}

type message struct {
	from *client
	data *websocket.PreparedMessage
}

type hub struct {
	clients    map[*client]bool
	broadcast  chan message
	register   chan *client
	unregister chan *client
}

func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
		case c := <-h.unregister:
			if h.clients[c] {
				delete(h.clients, c)
				close(c.send)
			}
		case m := <-h.broadcast:
			for c := range h.clients {
				if c == m.from {
					continue
				}
				select {
				case c.send <- m.data:
				default: // not keeping up: drop it
					delete(h.clients, c)
					close(c.send)
				}
			}
		}
	}
}

func (c *client) readPump(h *hub) {
	defer func() {
		h.unregister <- c
		c.conn.Close()
	}()
	c.conn.SetReadLimit(1 << 20) // ringway's default --max-message-size
	for {
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		if kind != websocket.TextMessage {
			continue
		}
		pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
		if err != nil {
			return
		}
		h.broadcast <- message{from: c, data: pm}
	}
}

func (c *client) writePump() {
	defer c.conn.Close()
	for pm := range c.send {
		if err := c.conn.WritePreparedMessage(pm); err != nil {
			return
		}
	}
	// The hub closed the channel: say goodbye.
	c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0 picks a free one)")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	h := &hub{
		clients:    make(map[*client]bool),
		broadcast:  make(chan message),
		register:   make(chan *client),
		unregister: make(chan *client),
	}
	go h.run()

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gorilla_broadcast:", err)
		os.Exit(1)
	}
	fmt.Printf("gorilla_broadcast listening on %s\n", ln.Addr().String())
	os.Stdout.Sync()
	serve := func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has already answered with an HTTP error
		}
		c := &client{conn: conn, send: make(chan *websocket.PreparedMessage, sendBuffer)}
		h.register <- c
		go c.writePump()
		go c.readPump(h)
	}
	// net/http backs off and retries on accept errors such as EMFILE.
	if err := http.Serve(ln, http.HandlerFunc(serve)); err != nil {
		fmt.Fprintln(os.Stderr, "gorilla_broadcast:", err)
		os.Exit(1)
	}
}
