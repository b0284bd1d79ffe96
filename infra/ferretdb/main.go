// Command ferretdb runs an embedded FerretDB (MongoDB wire protocol over SQLite or PostgreSQL) for local use and tests.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
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
	flag.Parse()
	if *handler == "sqlite" && *dir == "" {
		log.Fatal("-dir is required with the sqlite handler")
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
		SQLiteURL:     "file:" + strings.TrimSuffix(*dir, "/") + "/",
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
