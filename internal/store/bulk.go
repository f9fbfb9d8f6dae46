package store

import (
	"context"
	"fmt"
	"strings"
)

// insertRows runs "prefix VALUES ($1, …), (…) suffix" over args, which
// holds the rows' values one row after another, each row cols wide; prefix
// and suffix take no parameters. It splits the rows into statements of at
// most the dialect's maxParams parameters. The statements may be queued
// (see Tx.execLater): an error may be reported by the transaction's next
// statement instead.
func (t *Tx) insertRows(ctx context.Context, prefix, suffix string, cols int, args []any) error {
	if len(args)%cols != 0 {
		return fmt.Errorf("insert rows: %d values do not fill rows of %d", len(args), cols)
	}
	chunk := max(1, t.d.maxParams()/cols) * cols
	for start := 0; start < len(args); start += chunk {
		end := min(start+chunk, len(args))
		query := valuesStatement(t.d, prefix, suffix, cols, (end-start)/cols)
		if err := t.execLater(ctx, "insert rows", query, args[start:end]...); err != nil {
			return err
		}
	}
	return nil
}

// valuesStatement returns "prefix VALUES (…), (…) suffix" with rows rows of
// cols parameters each, written with d.rowParam.
func valuesStatement(d dialect, prefix, suffix string, cols, rows int) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(" VALUES ")
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString(d.rowParam(n))
			n++
		}
		b.WriteByte(')')
	}
	b.WriteString(suffix)
	return b.String()
}

// queryList runs query, whose last parameter $n is a list written as
// "= ANY($n)", once per chunk of vals (see dialect.maxParams), and calls
// each for every row.
func queryList[T string | int64](ctx context.Context, r reader, query string, args []any, vals []T, each func(scan func(...any) error) error) error {
	n := len(args) + 1
	size := max(1, r.d.maxParams()-len(args))
	for start := 0; start < len(vals); start += size {
		chunk := vals[start:min(start+size, len(vals))]
		q, a, err := r.d.expandList(query, n, args, chunk)
		if err != nil {
			return err
		}
		if err := r.scanRows(ctx, q, a, each); err != nil {
			return err
		}
	}
	return nil
}

// scanRows runs a query and calls each for every row.
func (r reader) scanRows(ctx context.Context, query string, args []any, each func(scan func(...any) error) error) error {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
