// Command ferretdb runs an embedded FerretDB (MongoDB wire protocol over SQLite or PostgreSQL) for local use and tests.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only with -debug-addr
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("dir", "", "absolute directory for the SQLite files (sqlite handler)")
	handler := flag.String("handler", "sqlite", "storage backend: sqlite or postgresql")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL (postgresql handler), e.g. postgres://ferretdb@127.0.0.1:5432/ferretdb")
	logLevel := flag.String("log-level", "error", "FerretDB log level: debug, info (every connection), warn (every error response, e.g. E11000) or error")
	synchronous := flag.String("sqlite-synchronous", "full", "SQLite synchronous pragma (WAL mode): full (fsync at every commit) or normal (fsync at checkpoints: a killed server loses nothing, a power cut may lose the last commits)")
	debugAddr := flag.String("debug-addr", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:8088, /debug/pprof/); off when empty")
	flag.Parse()
	if *debugAddr != "" {
		go func() { log.Printf("pprof: %v", http.ListenAndServe(*debugAddr, nil)) }()
	}
	if *handler == "sqlite" && *dir == "" {
		log.Fatal("-dir is required with the sqlite handler")
	}
	if *synchronous != "full" && *synchronous != "normal" {
		log.Fatalf("bad -sqlite-synchronous %q: full or normal", *synchronous)
	}
	if *handler == "postgresql" && *pgURL == "" {
		log.Fatal("-postgresql-url is required with the postgresql handler")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("bad -log-level %q: %v", *logLevel, err)
	}
	if *dir != "" {
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			log.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Logger:        logger,
		Handler:       *handler,
		SQLiteURL:     "file:" + strings.TrimSuffix(*dir, "/") + "/?_pragma=synchronous(" + *synchronous + ")",
		PostgreSQLURL: *pgURL,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("ferretdb (%s) listening on %s, log level %s", *handler, *listen, level)
	if err := f.Run(ctx); err != nil {
		log.Fatal(err)
	}
	log.Printf("ferretdb stopped")
}
