// Package logctx carries log attributes in a context: the engine's middleware puts a
// request's id there, and a handler wrapped with Wrap adds whatever the context holds
// to every record logged with the *Context calls (InfoContext, LogAttrs, …). Code
// serving a request thus logs its request_id without passing it around.
package logctx

import (
	"context"
	"log/slog"
	"slices"
)

// RequestIDKey is the attribute name of a request's id.
const RequestIDKey = "request_id"

type attrsKey struct{}

type requestIDKey struct{}

// With returns ctx with attrs added to those it already carries.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	if len(attrs) == 0 {
		return ctx
	}
	prev, _ := ctx.Value(attrsKey{}).([]slog.Attr)
	return context.WithValue(ctx, attrsKey{}, append(slices.Clip(prev), attrs...))
}

// Attrs returns the attributes ctx carries.
func Attrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	a, _ := ctx.Value(attrsKey{}).([]slog.Attr)
	return a
}

// WithRequestID returns ctx carrying id as its request id and as a request_id
// attribute for every log line logged with it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return With(context.WithValue(ctx, requestIDKey{}, id), slog.String(RequestIDKey, id))
}

// RequestID is the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Wrap returns a handler that adds the context's attributes to each record before
// passing it to h. Wrapping an already wrapped handler returns it unchanged.
func Wrap(h slog.Handler) slog.Handler {
	if _, ok := h.(handler); ok {
		return h
	}
	return handler{h}
}

// Logger returns l with its handler wrapped (see Wrap); nil stays nil.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	if _, ok := l.Handler().(handler); ok {
		return l
	}
	return slog.New(Wrap(l.Handler()))
}

type handler struct{ next slog.Handler }

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := Attrs(ctx); len(attrs) > 0 {
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.next.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.next.WithAttrs(attrs)}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{h.next.WithGroup(name)}
}
