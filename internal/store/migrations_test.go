package store

import (
	"strings"
	"testing"
)

// Migrate finds a migration by its version's position in the list, and
// every engine must end at the same schema.
func TestMigrationsAreOrderedAndCoverEveryDriver(t *testing.T) {
	if LatestSchemaVersion() != len(migrations) {
		t.Fatalf("LatestSchemaVersion = %d with %d migrations", LatestSchemaVersion(), len(migrations))
	}
	for i, m := range migrations {
		if m.version != i+1 {
			t.Errorf("migration #%d (%s) has version %d; want %d", i, m.name, m.version, i+1)
		}
		if m.name == "" {
			t.Errorf("migration %d has no name", m.version)
		}
		for _, d := range Drivers {
			stmts, err := m.statements(d)
			if err != nil || len(stmts) == 0 {
				t.Errorf("migration %d (%s) has no SQL for %s: %v", m.version, m.name, d, err)
			}
			for _, s := range stmts {
				if strings.ContainsAny(s, "{}") {
					t.Errorf("migration %d (%s) for %s keeps a placeholder: %s", m.version, m.name, d, s)
				}
			}
		}
	}
}
