package search

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// IndexerName is the name of the full-text index's stream position.
const IndexerName = store.SearchIndexConsumer

// IndexerConfig holds an Indexer's dependencies.
type IndexerConfig struct {
	// DB is the main database; the index and the indexer's position are
	// in its derived database (store.DB.Derived).
	DB     *store.DB
	Stream *stream.Stream
	Logger *slog.Logger
}

// indexLinger is how long the indexer lets events gather before it
// indexes them: sends arriving one at a time share a transaction.
const indexLinger = 100 * time.Millisecond

// Indexer keeps the full-text index: a durable consumer of the committed
// event stream that indexes the text of each batch's events in one
// transaction with its stored position (letting events gather for up to
// 100 ms, unless a search is waiting), so a send pays nothing for search
// and a crash neither loses nor repeats an entry (the insert is
// idempotent). The index is in the derived database, which on SQLite has
// a write lock of its own, so indexing never holds up the event path.
// An event redacted before the indexer reaches it is skipped
// (store.IndexEventTexts); one redacted after is queued for removal by
// the redaction's transaction, and each batch carries out the removals
// queued by then (see store's search_removals).
//
// History imported by backfill (negative stream positions) never passes
// through the stream and is not indexed; searches cover the timeline this
// server saw arrive. TODO(#10): index imported history where
// room.Service.ImportHistory stores it.
type Indexer struct {
	db       *store.DB
	logger   *slog.Logger
	stream   *stream.Stream
	consumer *stream.Consumer
}

// NewIndexer returns the indexer; it does nothing until Start. A server
// without a stored position starts from the beginning of the stream, so
// an existing server indexes its history once (entries already there are
// kept).
func NewIndexer(cfg IndexerConfig) *Indexer {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	x := &Indexer{db: cfg.DB, logger: logger, stream: cfg.Stream}
	x.consumer = stream.NewConsumer(stream.ConsumerConfig{
		Name: IndexerName, Stream: cfg.Stream, DB: cfg.DB, Positions: cfg.DB.Derived(),
		Stage: x.stage, From: 0, Logger: cfg.Logger, Linger: indexLinger,
	})
	return x
}

// Start starts the indexer's stream consumer.
func (x *Indexer) Start(ctx context.Context) error { return x.consumer.Start(ctx) }

// Stop stops it and waits.
func (x *Indexer) Stop() { x.consumer.Stop() }

// WaitFor waits until every event up to stream position pos is indexed,
// or ctx is done.
func (x *Indexer) WaitFor(ctx context.Context, pos int64) error {
	x.consumer.Flush()
	return x.consumer.WaitFor(ctx, pos)
}

// CatchUp waits until every event committed when it is called is indexed,
// or ctx is done: a search that follows it finds what was sent before it.
func (x *Indexer) CatchUp(ctx context.Context) error {
	return x.WaitFor(ctx, x.stream.Position())
}

// maxRemovals bounds the queued removals one batch carries out.
const maxRemovals = 512

// stage turns a batch of events into index writes, with the removals
// queued by redactions committed before it.
func (x *Indexer) stage(ctx context.Context, evs []stream.Event) (func(tx *store.Tx) error, func(), error) {
	var texts []store.SearchText
	for _, e := range evs {
		if text, ok := room.SearchText(e.PDU); ok {
			texts = append(texts, store.SearchText{EventID: e.PDU.EventID(), Text: text})
		}
	}
	removals, err := x.db.SearchRemovals(ctx, maxRemovals)
	if err != nil {
		return nil, nil, err
	}
	if len(texts) == 0 && len(removals) == 0 {
		return nil, nil, nil
	}
	write := func(tx *store.Tx) error {
		if err := tx.RemoveFromSearchIndex(ctx, removals); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
		if err := tx.IndexEventTexts(ctx, texts); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
		return nil
	}
	var committed func()
	if len(removals) > 0 {
		// The queue's rows go once the index no longer holds their
		// entries; should this fail, the next batch removes them again,
		// which changes nothing.
		committed = func() {
			err := x.db.Write(ctx, func(tx *store.Tx) error { return tx.DeleteSearchRemovals(ctx, removals) })
			if err != nil {
				x.logger.Warn("delete carried out search removals", "err", err)
			}
		}
	}
	return write, committed, nil
}
