package store

import (
	"strconv"
	"strings"
)

// rebind rewrites the ? placeholders of a query written once for all
// dialects into what driver expects: $1..$n for PostgreSQL, unchanged for
// SQLite and MySQL. A ? inside a quoted literal or identifier is left alone;
// queries must not carry ? in comments.
func rebind(driver, query string) string {
	if driver != DriverPostgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			// A doubled quote ('it''s') closes and reopens, which
			// leaves us inside the literal as it should.
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// placeholders returns n ? placeholders separated by commas, for an IN
// list or a VALUES row.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
