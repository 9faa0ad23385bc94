package fake

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

func TestCalls(t *testing.T) {
	var c Calls
	c.Count("GET a")
	c.Count("GET a")
	c.CountRoute("POST token")
	c.CountLimited()
	got := c.Counts()
	if got.ByRoute["GET a"] != 2 || got.ByRoute["POST token"] != 1 || got.Total != 2 || got.Limited != 1 {
		t.Fatalf("counts %+v", got)
	}
	got.ByRoute["GET a"] = 99 // a copy
	if c.Counts().ByRoute["GET a"] != 2 {
		t.Fatal("Counts shares its map")
	}
	c.Reset()
	if got := c.Counts(); len(got.ByRoute) != 0 || got.Total != 0 || got.Limited != 0 {
		t.Fatalf("after Reset %+v", got)
	}
}

func TestDelay(t *testing.T) {
	if !Delay(context.Background(), nil, time.Millisecond) {
		t.Fatal("a short delay did not run out")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Delay(ctx, nil, time.Hour) {
		t.Fatal("an ended request was held")
	}
	done := make(chan struct{})
	close(done)
	if Delay(context.Background(), done, time.Hour) {
		t.Fatal("a closed fake held its answer")
	}
}

func TestListener(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	l, err := Listen("127.0.0.1:0", h, nil, slog.New(slog.DiscardHandler), "test")
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(l.URL())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
	l.Close()
	if _, err := http.Get(l.URL()); err == nil {
		t.Fatal("still serving after Close")
	}
	var none *Listener
	none.Close()
	if _, err := Listen("256.0.0.1:0", h, nil, nil, "test"); err == nil {
		t.Fatal("Listen on a bad address: no error")
	}
}

func TestPositive(t *testing.T) {
	n, d := 0, -time.Second
	Positive(&n, 10)
	Positive(&d, time.Minute)
	if n != 10 || d != time.Minute {
		t.Fatalf("defaults %d %s", n, d)
	}
	n = 3
	Positive(&n, 10)
	if n != 3 {
		t.Fatalf("a set value became %d", n)
	}
}
