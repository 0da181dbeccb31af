package opcount

import (
	"context"
	"sync"
	"testing"
)

func TestCounterCountsInTotalAndInTheContextsTally(t *testing.T) {
	var c Counter
	var request, inner Tally
	bg := context.Background()
	ctx := With(bg, &request)

	c.Read(bg)
	c.Read(ctx)
	c.Transaction(ctx)
	c.Statement(ctx)
	c.Statement(ctx)
	c.Write(ctx)
	c.Write(With(ctx, &inner)) // the inner tally takes it, not the outer

	if got, want := c.Counts(), (Counts{Reads: 2, Writes: 3, Statements: 6}); got != want {
		t.Errorf("total %+v, want %+v", got, want)
	}
	if got, want := request.Counts(), (Counts{Reads: 1, Writes: 2, Statements: 4}); got != want {
		t.Errorf("request %+v, want %+v", got, want)
	}
	if got, want := inner.Counts(), (Counts{Writes: 1, Statements: 1}); got != want {
		t.Errorf("inner %+v, want %+v", got, want)
	}
	if From(bg) != nil || (*Tally)(nil).Counts() != (Counts{}) {
		t.Error("a context without a tally has one")
	}
	d := c.Counts().Sub(request.Counts())
	if d != (Counts{Reads: 1, Writes: 1, Statements: 2}) || d.Add(request.Counts()) != c.Counts() {
		t.Errorf("Sub/Add: %+v", d)
	}
}

func TestCounterIsSafeForConcurrentUse(t *testing.T) {
	var c Counter
	var tally Tally
	ctx := With(context.Background(), &tally)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Read(ctx)
				c.Write(context.Background())
			}
		})
	}
	wg.Wait()
	if got := c.Counts(); got != (Counts{Reads: 8000, Writes: 8000, Statements: 16000}) {
		t.Errorf("total %+v", got)
	}
	if got := tally.Counts(); got != (Counts{Reads: 8000, Statements: 8000}) {
		t.Errorf("tally %+v", got)
	}
}
