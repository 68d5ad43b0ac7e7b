package store

import "testing"

func TestRebind(t *testing.T) {
	tests := []struct {
		name, driver, query, want string
	}{
		{"postgres numbers in order", DriverPostgres,
			"SELECT a FROM t WHERE b = ? AND c IN (?, ?)",
			"SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"},
		{"postgres skips literals", DriverPostgres,
			"SELECT '?', 'it''s ?' FROM t WHERE b = ?",
			"SELECT '?', 'it''s ?' FROM t WHERE b = $1"},
		{"postgres skips quoted identifiers", DriverPostgres,
			`SELECT "odd?col" FROM t WHERE b = ?`,
			`SELECT "odd?col" FROM t WHERE b = $1`},
		{"postgres counts past nine", DriverPostgres,
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"},
		{"postgres without placeholders", DriverPostgres, "SELECT 1", "SELECT 1"},
		{"sqlite unchanged", DriverSQLite, "SELECT ? WHERE ?", "SELECT ? WHERE ?"},
		{"mysql unchanged", DriverMySQL, "SELECT ? WHERE ?", "SELECT ? WHERE ?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rebind(tt.driver, tt.query); got != tt.want {
				t.Errorf("rebind(%s, %q) = %q; want %q", tt.driver, tt.query, got, tt.want)
			}
		})
	}
}
