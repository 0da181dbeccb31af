// Package password hashes and verifies passwords with argon2id (RFC 9106) through a
// bounded pool, so that a burst of sign-ins queues for the CPU instead of allocating
// one 19 MiB argon2 buffer per request until the process runs out of memory.
//
// The pool's queue is shared fairly: callers wait in arrival order, and with
// SetQueueShare one key (a client address) may hold only part of the queue, so that
// one client flooding sign-ins is turned away while everyone else still gets a place.
//
// Hashes are stored in the PHC string format that libargon2 and most password
// libraries use: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard
// base64), so they can move to or from other systems.
package password

import (
	"container/list"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB   uint32 // m: memory in KiB
	Iterations  uint32 // t: passes over the memory
	Parallelism uint8  // p: lanes
}

// DefaultParams is the OWASP Password Storage Cheat Sheet's baseline for argon2id:
// 19 MiB, 2 iterations, 1 lane.
var DefaultParams = Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}

// CheapParams is the weakest setting argon2id accepts. It exists only so the
// benchmark can show the engine's own cost per sign-in; Validate refuses it.
var CheapParams = Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
	// MaxPasswordBytes bounds the work one request can ask for; longer input is refused
	// before hashing.
	MaxPasswordBytes = 1024
)

// Validate refuses parameters weaker than OWASP's least-memory argon2id configuration
// (m=7 MiB with t=5, or an equivalent memory×iterations product of at least 35 MiB).
func (p Params) Validate() error {
	switch {
	case p.Parallelism < 1:
		return errors.New("parallelism must be at least 1")
	case p.Iterations < 1:
		return errors.New("iterations must be at least 1")
	case p.MemoryKiB < 7*1024:
		return fmt.Errorf("memory_kib %d is below the minimum of 7168 (7 MiB)", p.MemoryKiB)
	case uint64(p.MemoryKiB)*uint64(p.Iterations) < 35*1024:
		return fmt.Errorf("memory_kib × iterations = %d is below the minimum of 35840 (e.g. 19456 × 2)", uint64(p.MemoryKiB)*uint64(p.Iterations))
	case p.MemoryKiB > 4*1024*1024:
		return fmt.Errorf("memory_kib %d is above the maximum of 4194304 (4 GiB)", p.MemoryKiB)
	}
	return nil
}

func (p Params) String() string {
	return fmt.Sprintf("argon2id m=%d,t=%d,p=%d", p.MemoryKiB, p.Iterations, p.Parallelism)
}

// ErrBusy is returned when the hashing queue is full, or when the caller's key has
// its share of it waiting; callers answer "try again later".
var ErrBusy = errors.New("password: hashing queue full")

// ErrTooLong is returned for passwords longer than MaxPasswordBytes.
var ErrTooLong = errors.New("password: too long")

// ErrMalformedHash is returned when a stored hash cannot be decoded.
var ErrMalformedHash = errors.New("password: malformed hash")

// Hasher hashes and verifies passwords with at most workers argon2id computations at a
// time and at most maxQueue callers waiting, of which at most keyLimit with one key.
// Waiting callers are served strictly in arrival order.
type Hasher struct {
	params Params
	// dummy is a hash of a random password under params, verified when the user does
	// not exist so that an unknown user costs as much as a wrong password.
	dummy string

	mu       sync.Mutex
	workers  int
	inFlight int // slots held, including those handed to a waiter not yet running
	// queue holds *waiter in arrival order. A slot freed while it is not empty goes
	// to its front, so a newcomer never overtakes a waiting caller.
	queue *list.List
	// maxQueue bounds queue.Len(); beyond it Verify returns ErrBusy.
	maxQueue int
	// keyLimit bounds how many waiters one non-empty key may have in the queue.
	keyLimit int
	// perKey counts the waiters of each non-empty key; a key is deleted when its
	// count drops to zero, so the map holds only keys that are waiting now.
	perKey map[string]int
	// onQueued and onGranted, when set (by tests), are called with the key of a
	// caller that joined the queue, after it did, and of a waiter that was handed
	// a slot, with mu held.
	onQueued, onGranted func(key string)
}

// waiter is a caller in the queue. ready is closed when a slot is handed to it.
type waiter struct {
	key     string
	ready   chan struct{}
	elem    *list.Element
	granted bool // set with mu held, when ready is closed
}

// NewHasher returns a Hasher. workers <= 0 means runtime.GOMAXPROCS(0); maxQueue <= 0
// means 64 waiting callers per worker.
func NewHasher(params Params, workers, maxQueue int) (*Hasher, error) {
	if params.Parallelism < 1 || params.Iterations < 1 || params.MemoryKiB < 8*uint32(params.Parallelism) {
		return nil, fmt.Errorf("password: invalid parameters %v", params)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if maxQueue <= 0 {
		maxQueue = 64 * workers
	}
	h := &Hasher{params: params, workers: workers, queue: list.New(), maxQueue: maxQueue, keyLimit: maxQueue, perKey: map[string]int{}}
	dummyPassword := make([]byte, 32)
	if _, err := rand.Read(dummyPassword); err != nil {
		return nil, err
	}
	dummy, err := h.hash(dummyPassword)
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// SetQueueShare bounds the waiting callers of one key (see VerifyAs) to
// ceil(share × the queue bound), at least one. The default, 1, lets one key fill the
// whole queue; a share outside (0, 1], or NaN, also means 1. Callers already waiting
// keep their places.
func (h *Hasher) SetQueueShare(share float64) {
	if !(share > 0 && share <= 1) {
		share = 1
	}
	limit := int(math.Ceil(share * float64(h.maxQueue)))
	limit = max(1, min(limit, h.maxQueue))
	h.mu.Lock()
	h.keyLimit = limit
	h.mu.Unlock()
}

// InFlight reports how many hashes are being computed now.
func (h *Hasher) InFlight() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inFlight
}

// QueueLength reports how many callers are waiting for a hashing slot.
func (h *Hasher) QueueLength() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.queue.Len()
}

// acquire takes a hashing slot, waiting for one in arrival order if all are in use,
// within the queue bound and key's share of it, until ctx ends. Every nil return
// must be followed by one release.
func (h *Hasher) acquire(ctx context.Context, key string) error {
	h.mu.Lock()
	if h.inFlight < h.workers && h.queue.Len() == 0 {
		h.inFlight++
		h.mu.Unlock()
		return nil
	}
	if h.queue.Len() >= h.maxQueue || (key != "" && h.perKey[key] >= h.keyLimit) {
		h.mu.Unlock()
		return ErrBusy
	}
	w := &waiter{key: key, ready: make(chan struct{})}
	w.elem = h.queue.PushBack(w)
	if key != "" {
		h.perKey[key]++
	}
	onQueued := h.onQueued
	h.mu.Unlock()
	if onQueued != nil {
		onQueued(key)
	}

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.granted {
		// release handed us a slot as ctx ended: pass it on rather than hash for a
		// caller that has gone.
		h.releaseLocked()
	} else {
		h.dequeue(w)
	}
	return ctx.Err()
}

// dequeue removes w from the queue and its key's count; mu must be held.
func (h *Hasher) dequeue(w *waiter) {
	h.queue.Remove(w.elem)
	if w.key != "" {
		if h.perKey[w.key] <= 1 {
			delete(h.perKey, w.key)
		} else {
			h.perKey[w.key]--
		}
	}
}

// release frees a slot taken by acquire, handing it to the longest-waiting caller
// if there is one.
func (h *Hasher) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked()
}

// releaseLocked is release with mu held.
func (h *Hasher) releaseLocked() {
	front := h.queue.Front()
	if front == nil {
		h.inFlight--
		return
	}
	w := front.Value.(*waiter)
	h.dequeue(w)
	w.granted = true
	close(w.ready)
	if h.onGranted != nil {
		h.onGranted(w.key)
	}
}

// Hash returns the PHC-encoded argon2id hash of password with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", ErrTooLong
	}
	if err := h.acquire(ctx, ""); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash([]byte(password))
}

func (h *Hasher) hash(password []byte) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey(password, salt, h.params.Iterations, h.params.MemoryKiB, h.params.Parallelism, keyLen)
	return encode(h.params, salt, key), nil
}

// Result is the outcome of Verify.
type Result struct {
	OK bool
	// NeedsRehash is set when the password was right but the stored hash uses other
	// parameters than the Hasher's; the caller should store a fresh Hash.
	NeedsRehash bool
}

// Verify reports whether password matches encoded. An empty encoded hash (an unknown
// user) is verified against a dummy hash and never matches, at the same cost. It is
// VerifyAs with no key: bounded only by the whole queue.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (Result, error) {
	return h.VerifyAs(ctx, "", encoded, password)
}

// VerifyAs is Verify on behalf of key, the throttling key of the client's address:
// if key already has its share of the queue waiting (see SetQueueShare), it returns
// ErrBusy at once while other keys can still queue. An empty key is counted only
// against the whole queue.
func (h *Hasher) VerifyAs(ctx context.Context, key string, encoded, password string) (Result, error) {
	if len(password) > MaxPasswordBytes {
		return Result{}, ErrTooLong
	}
	known := encoded != ""
	if !known {
		encoded = h.dummy
	}
	params, salt, want, err := decode(encoded)
	if err != nil {
		return Result{}, err
	}
	if err := h.acquire(ctx, key); err != nil {
		return Result{}, err
	}
	got := argon2.IDKey([]byte(password), salt, params.Iterations, params.MemoryKiB, params.Parallelism, uint32(len(want)))
	h.release()
	ok := subtle.ConstantTimeCompare(got, want) == 1 && known
	return Result{OK: ok, NeedsRehash: ok && params != h.params}, nil
}

// HashWith hashes password with explicit parameters and no pool; for seeding tools
// that hash once and reuse the result.
func HashWith(params Params, password string) (string, error) {
	h := &Hasher{params: params}
	return h.hash([]byte(password))
}

var b64 = base64.RawStdEncoding

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC argon2id string, bounding every number so that a corrupted or
// hostile hash cannot make Verify allocate without limit.
func decode(s string) (Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var p Params
	var m, t, par uint64
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &par); err != nil || n != 3 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	if m < 8 || m > 4*1024*1024 || t < 1 || t > 1000 || par < 1 || par > 255 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	p = Params{MemoryKiB: uint32(m), Iterations: uint32(t), Parallelism: uint8(par)}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}
