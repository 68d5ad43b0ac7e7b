package store_test

import (
	"testing"

	"github.com/damocles-go/damocles/internal/store/storetest"
)

func TestMySQL(t *testing.T) {
	storetest.Exercise(t, storetest.NewMySQL)
}
