package store

import "testing"

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
			if len(m.up[d]) == 0 {
				t.Errorf("migration %d (%s) has no SQL for %s", m.version, m.name, d)
			}
		}
		if len(m.up) != len(Drivers) {
			t.Errorf("migration %d (%s) has SQL for %d drivers; want %d", m.version, m.name, len(m.up), len(Drivers))
		}
	}
}
