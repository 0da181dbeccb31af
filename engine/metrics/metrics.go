// Package metrics holds the engine's Prometheus metrics. Each engine has its own
// registry, so several engines in one process (tests) do not collide. Every method is
// safe on a nil *Metrics, which records nothing.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-id/gatehouse/internal/version"
)

// Sign-in outcomes counted by SignIn.
const (
	SignInStarted        = "started"
	SignInSucceeded      = "succeeded"
	SignInPasswordFailed = "password_failed"
	SignInCodeFailed     = "code_failed"
	SignInLocked         = "locked"
	SignInRateLimited    = "rate_limited"
	SignInDenied         = "denied"
	SignInCancelled      = "cancelled"
	SignInPasswordReset  = "password_reset"
	SignInRegistered     = "registered"
)

// Metrics are the engine's counters, histograms and gauges.
type Metrics struct {
	registry  *prometheus.Registry
	signIns   *prometheus.CounterVec
	requests  *prometheus.HistogramVec
	codes     *prometheus.CounterVec
	delivered *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	refused   *prometheus.CounterVec
	limited   *prometheus.CounterVec
}

// New registers the engine's metrics, plus Go runtime and process metrics.
// hashQueue and hashInFlight report the password hashing pool.
func New(hashQueue, hashInFlight func() float64) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		registry: r,
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_signins_total",
			Help: "Sign-in events by outcome: started, succeeded, password_failed, code_failed, locked, rate_limited, denied, cancelled.",
		}, []string{"outcome"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "HTTP request latency by route (the IDX step or OAuth endpoint) and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "code"}),
		codes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_codes_queued_total",
			Help: "One-time codes queued for delivery, by channel (sms, voice).",
		}, []string{"channel"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_messages_delivery_total",
			Help: "Delivery attempts of queued messages by channel and result (sent, retry, failed).",
		}, []string{"channel", "result"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokens_issued_total",
			Help: "Token responses issued, by grant type.",
		}, []string{"grant"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_phone_sends_refused_total",
			Help: "Codes not sent because a limit refused them, by reason: transaction, transaction_numbers, user, user_unverified, ip, ip_unverified, global (the circuit breaker), number, interval, number_type, region.",
		}, []string{"reason"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_rate_limited_total",
			Help: "Requests refused with 429 by a limit other than the send limits, by limit: requests_per_ip, transactions_per_ip, transactions_total, identify_per_transaction, password_source, password_unknown_sources, hash_queue, userinfo_failures, api_token, api_auth_failures.",
		}, []string{"limit"}),
	}
	r.MustRegister(m.signIns, m.requests, m.codes, m.delivered, m.tokens, m.refused, m.limited,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_password_hash_queue",
			Help: "Sign-ins waiting for a password hashing slot.",
		}, hashQueue),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_password_hash_in_flight",
			Help: "Password hashes being computed now.",
		}, hashInFlight),
		buildInfo(version.Get()),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// buildInfo is gatehouse_build_info{version,commit,go_version}, always 1: the
// labels say which build answers, so a dashboard can show a rollout's progress.
func buildInfo(b version.Info) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "gatehouse_build_info",
		Help:        "Always 1; the labels name the running build (gatehouse version, Git commit, Go version).",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.ShortCommit(), "go_version": b.GoVersion},
	}, func() float64 { return 1 })
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// SignIn counts a sign-in event.
func (m *Metrics) SignIn(outcome string) {
	if m != nil {
		m.signIns.WithLabelValues(outcome).Inc()
	}
}

// Request records one HTTP request's latency. route is the mux pattern.
func (m *Metrics) Request(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched" // keeps arbitrary paths out of the label space
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status/100)+"xx").Observe(d.Seconds())
}

// CodeQueued counts a code queued by channel.
func (m *Metrics) CodeQueued(channel string) {
	if m != nil {
		m.codes.WithLabelValues(channel).Inc()
	}
}

// Delivery counts one delivery attempt's result.
func (m *Metrics) Delivery(channel, result string) {
	if m != nil {
		m.delivered.WithLabelValues(channel, result).Inc()
	}
}

// TokensIssued counts a token response by grant.
func (m *Metrics) TokensIssued(grant string) {
	if m != nil {
		m.tokens.WithLabelValues(grant).Inc()
	}
}

// SendRefused counts a code a limit did not let through, by reason.
func (m *Metrics) SendRefused(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

// RateLimited counts a request a limit refused, by limit.
func (m *Metrics) RateLimited(limit string) {
	if m != nil {
		m.limited.WithLabelValues(limit).Inc()
	}
}

// OutboxReader reads the outbox backlog: how many messages are not yet delivered
// and how old the oldest of them is (0 when there are none). It logs its own
// errors.
type OutboxReader func(ctx context.Context) (pending int64, oldestAge time.Duration, err error)

// outboxScrapeTimeout bounds the store query one scrape makes.
const outboxScrapeTimeout = 2 * time.Second

// WatchOutbox adds gatehouse_outbox_pending and gatehouse_outbox_oldest_age_seconds,
// read with read at every scrape. A scrape whose read fails leaves both out, rather
// than report a backlog that may be wrong.
func (m *Metrics) WatchOutbox(read OutboxReader) {
	if m != nil {
		m.registry.MustRegister(outboxCollector{read: read})
	}
}

var (
	outboxPendingDesc = prometheus.NewDesc("gatehouse_outbox_pending",
		"Outbox messages (codes, back-channel logout notices) not yet delivered: pending or being sent, retries included.", nil, nil)
	outboxOldestDesc = prometheus.NewDesc("gatehouse_outbox_oldest_age_seconds",
		"Age of the oldest outbox message not yet delivered; 0 when there is none.", nil, nil)
)

type outboxCollector struct{ read OutboxReader }

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxPendingDesc
	ch <- outboxOldestDesc
}

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), outboxScrapeTimeout)
	defer cancel()
	pending, age, err := c.read(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(outboxPendingDesc, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(outboxOldestDesc, prometheus.GaugeValue, max(age, 0).Seconds())
}
