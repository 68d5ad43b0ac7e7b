package store_test

import (
	"testing"

	"github.com/damocles-go/damocles/internal/store"
	"github.com/damocles-go/damocles/internal/store/storetest"
)

// BenchmarkWdPoStAllocate runs storetest.BenchAllocate on every engine;
// pick one with -bench 'WdPoStAllocate/postgres'.
func BenchmarkWdPoStAllocate(b *testing.B) {
	for _, driver := range store.Drivers {
		b.Run(driver, func(b *testing.B) { storetest.BenchAllocate(b, driver) })
	}
}
