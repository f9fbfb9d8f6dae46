package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the statement cache of one pool. Statements built
// for a number of list parameters or rows vary in their text; past the
// bound, new texts run unprepared instead of growing the cache.
const maxCachedStmts = 512

// stmtCache prepares each distinct statement text once per connection pool
// and reuses it. Without it every query is parsed and planned anew, which
// shows up as a sixth of the CPU time of a busy server on SQLite.
type stmtCache struct {
	pool  *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	// deferred makes get only note statements it does not have yet;
	// preparePending prepares them later. The write pool needs this: its
	// one connection is held by the transaction that asks, so preparing
	// on the pool then would wait for itself.
	deferred bool
	pending  map[string]bool
}

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, stmts: map[string]*sql.Stmt{}}
}

// newDeferredStmtCache returns a cache that prepares statements only in
// preparePending, between transactions.
func newDeferredStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, stmts: map[string]*sql.Stmt{}, deferred: true, pending: map[string]bool{}}
}

// preparePending prepares the statements get has noted since the last call.
// The writer calls it between transactions.
func (c *stmtCache) preparePending() {
	if c == nil || !c.deferred {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q := range c.pending {
		delete(c.pending, q)
		if len(c.stmts) >= maxCachedStmts {
			continue
		}
		if s, err := c.pool.PrepareContext(context.Background(), q); err == nil {
			c.stmts[q] = s
		}
	}
}

// get returns the prepared statement for query, or nil when it cannot or
// should not be cached (the caller then runs the query unprepared, which
// also reports any error in the query).
func (c *stmtCache) get(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil
	}
	if c.deferred {
		if len(c.pending) < maxCachedStmts {
			c.pending[query] = true
		}
		return nil
	}
	// Prepared statements outlive requests, so they are not bound to one.
	s, err := c.pool.PrepareContext(context.Background(), query)
	if err != nil {
		return nil
	}
	c.stmts[query] = s
	return s
}

// close closes every cached statement.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.stmts {
		s.Close()
		delete(c.stmts, q)
	}
}

// poolQuerier runs statements on a connection pool, through its statement
// cache when it has one.
type poolQuerier struct {
	pool *sql.DB
	c    *stmtCache // nil: the driver caches statements itself
}

func (p poolQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := p.c.get(query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.pool.ExecContext(ctx, query, args...)
}

func (p poolQuerier) QueryContext(ctx context.Context, query string, args ...any) (rowIter, error) {
	var rows *sql.Rows
	var err error
	if s := p.c.get(query); s != nil {
		rows, err = s.QueryContext(ctx, args...)
	} else {
		rows, err = p.pool.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (p poolQuerier) QueryRowContext(ctx context.Context, query string, args ...any) rowScanner {
	if s := p.c.get(query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.pool.QueryRowContext(ctx, query, args...)
}
