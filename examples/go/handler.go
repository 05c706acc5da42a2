// examples/go/handler.go: an app's own webhook handler that feeds presence.
//
// The provider sends every event the app selects to one URL.  This handler
// receives them all, hands each delivery to presence_ingest() in PostgreSQL
// (which checks the signature, applies user:connection_status and answers
// other types with `ignored`), does the app's own work for the other types
// (here: lets every *:pre_messaging message pass), and pushes the presence
// feed (LISTEN presence; the database needs presence.feed = 'notify') to
// browsers as server-sent events on GET /events.
//
// Settings from the environment: PORT (default 8000; 0 picks a free port),
// and the libpq variables (PGHOST, PGDATABASE, ...) or DATABASE_URL.
// Needs database/sql and github.com/lib/pq (Debian: golang-go and
// golang-github-lib-pq-dev).  Run:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run handler.go
package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

var (
	db      *sql.DB
	clients = map[chan string]bool{} // one channel per open /events stream
	mu      sync.Mutex
)

// pick returns the first of the query parameters names, else the header
// (plain or with the provider's RC- prefix), else NULL.
func pick(r *http.Request, names []string, header string) interface{} {
	q := r.URL.Query()
	for _, n := range names {
		if v, ok := q[n]; ok {
			return v[0]
		}
	}
	for _, h := range []string{header, "RC-" + header} {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	return nil
}

// ingest calls presence_ingest() for one delivery: the HTTP status and the reply.
func ingest(r *http.Request, body string) (int, map[string]interface{}) {
	rows, err := db.Query("SELECT (r).* FROM presence_ingest($1, $2, $3, $4, $5) AS r", body,
		pick(r, []string{"nonce"}, "Nonce"), pick(r, []string{"signTimestamp", "timestamp"}, "Timestamp"),
		pick(r, []string{"signature"}, "Signature"), pick(r, []string{"appKey"}, "App-Key"))
	if err == nil {
		defer rows.Close()
		names, _ := rows.Columns()
		values := make([]interface{}, len(names))
		ptrs := make([]interface{}, len(names))
		for i := range values {
			ptrs[i] = &values[i]
		}
		if rows.Next() {
			if err = rows.Scan(ptrs...); err == nil {
				result := map[string]interface{}{}
				for i, n := range names {
					result[n] = values[i]
				}
				return 200, result
			}
		}
		if err == nil {
			err = rows.Err()
		}
	}
	status := 503
	if e, ok := err.(*pq.Error); ok {
		switch code := string(e.Code); {
		case code == "28000":
			status = 401
		case strings.HasPrefix(code, "22"):
			status = 400
		case code == "54000":
			status = 413
		}
		return status, map[string]interface{}{"error": e.Message}
	}
	return status, map[string]interface{}{"error": fmt.Sprint(err)}
}

func reply(w http.ResponseWriter, status int, obj interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(obj)
}

func webhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		reply(w, 405, map[string]string{"error": "POST only"})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		reply(w, 400, map[string]string{"error": "cannot read the body"})
		return
	}
	body := string(raw)
	status, result := ingest(r, body)
	if ignored, _ := result["ignored"].(int64); status == 200 && ignored > 0 {
		// Another event type, signed: the app's own work goes here.
		var env struct{ Type string }
		if json.Unmarshal(raw, &env) == nil && strings.HasSuffix(env.Type, ":pre_messaging") {
			reply(w, 200, map[string]bool{"pass": true})
			return
		}
	}
	reply(w, status, result)
}

func events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		reply(w, 500, map[string]string{"error": "no streaming"})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ch := make(chan string, 64)
	mu.Lock()
	clients[ch] = true
	mu.Unlock()
	defer func() { mu.Lock(); delete(clients, ch); mu.Unlock() }()
	fmt.Fprint(w, ": connected\n\n")
	flusher.Flush()
	for {
		select {
		case payload := <-ch:
			fmt.Fprintf(w, "event: presence\ndata: %s\n\n", payload)
		case <-time.After(15 * time.Second):
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-r.Context().Done():
			return
		}
		flusher.Flush()
	}
}

// listenFeed hands each message of LISTEN presence to every /events stream.
func listenFeed(dsn string) {
	listener := pq.NewListener(dsn, time.Second, time.Minute, nil)
	if err := listener.Listen("presence"); err != nil {
		log.Fatal(err)
	}
	for n := range listener.Notify {
		if n == nil {
			continue // reconnected: messages sent meanwhile are lost, as with any LISTEN
		}
		mu.Lock()
		for ch := range clients {
			select {
			case ch <- n.Extra:
			default: // a stream too slow to keep up misses the message
			}
		}
		mu.Unlock()
	}
}

func main() {
	dsn := os.Getenv("DATABASE_URL")
	var err error
	if db, err = sql.Open("postgres", dsn); err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(8)
	go listenFeed(dsn)
	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on port %d\n", ln.Addr().(*net.TCPAddr).Port)
	http.HandleFunc("/webhook", webhook)
	http.HandleFunc("/events", events)
	log.Fatal(http.Serve(ln, nil))
}
