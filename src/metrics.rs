//! Prometheus metrics, served at `GET /metrics` in the text exposition format.
//!
//! Each server owns one [`Metrics`] (no global registry), so several servers in one process,
//! as in the tests, count apart. Labels never carry an address, a text or a case code.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A channel's name as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    /// `telegram`, `whatsapp`, `sms`, `console`.
    pub channel: String,
}

/// A send failure's channel and kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SendErrorLabels {
    /// Channel.
    pub channel: String,
    /// `retry` (will be tried again), `gave_up`, `permanent` or `refused`.
    pub kind: String,
}

/// An escalation level as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LevelLabel {
    /// The step of the chain (1 is the first provider's primary).
    pub level: String,
}

/// Everything Teduh counts.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Inbound messages accepted into the inbox, per channel.
    pub messages_in: Family<ChannelLabel, Counter>,
    /// Messages held back because their sender was over the flood limit.
    pub flood_limited: Counter,
    /// Inbound texts cut to the length limit.
    pub texts_truncated: Counter,
    /// Time to run one inbound message through the engine and commit it (seconds).
    pub step_seconds: Histogram,
    /// Messages delivered to the providers, per channel.
    pub messages_out: Family<ChannelLabel, Counter>,
    /// Failed sends, per channel and kind.
    pub send_errors: Family<SendErrorLabels, Counter>,
    /// Counselors notified of a case, per escalation level.
    pub escalation_notices: Family<LevelLabel, Counter>,
    /// From a case being opened to a counselor accepting it (seconds).
    pub accept_seconds: Histogram,
    /// Messages waiting to be sent (set when scraped).
    pub outbox_depth: Gauge,
    /// Age of the oldest message waiting to be sent, in seconds (set when scraped).
    pub outbox_oldest_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("teduh");
        let messages_in = Family::<ChannelLabel, Counter>::default();
        registry.register("messages_in", "Inbound messages accepted, per channel", messages_in.clone());
        let flood_limited = Counter::default();
        registry.register(
            "flood_limited",
            "Inbound messages held back because their sender was over the per-minute flood limit",
            flood_limited.clone(),
        );
        let texts_truncated = Counter::default();
        registry.register(
            "texts_truncated",
            "Inbound texts cut to the length limit",
            texts_truncated.clone(),
        );
        // 0.5 ms to about 16 s.
        let step_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "step_seconds",
            "Time to step one inbound message through the flow engine and commit it",
            step_seconds.clone(),
        );
        let messages_out = Family::<ChannelLabel, Counter>::default();
        registry.register(
            "messages_out",
            "Messages delivered to the providers, per channel",
            messages_out.clone(),
        );
        let send_errors = Family::<SendErrorLabels, Counter>::default();
        registry.register("send_errors", "Failed sends, per channel and kind", send_errors.clone());
        let escalation_notices = Family::<LevelLabel, Counter>::default();
        registry.register(
            "escalation_notices",
            "Counselors notified of a case, per escalation level",
            escalation_notices.clone(),
        );
        // 5 s to about 3 hours.
        let accept_seconds = Histogram::new(exponential_buckets(5.0, 2.0, 12));
        registry.register(
            "accept_seconds",
            "Time from a case being opened to a counselor accepting it",
            accept_seconds.clone(),
        );
        let outbox_depth = Gauge::default();
        registry.register("outbox_depth", "Messages waiting to be sent", outbox_depth.clone());
        let outbox_oldest_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "outbox_oldest_seconds",
            "Age of the oldest message waiting to be sent",
            outbox_oldest_seconds.clone(),
        );
        Self {
            registry,
            messages_in,
            flood_limited,
            texts_truncated,
            step_seconds,
            messages_out,
            send_errors,
            escalation_notices,
            accept_seconds,
            outbox_depth,
            outbox_oldest_seconds,
        }
    }

    /// Counts an inbound message on `channel`.
    pub fn count_in(&self, channel: &str) {
        self.messages_in.get_or_create(&ChannelLabel { channel: channel.to_string() }).inc();
    }

    /// Counts a delivered message on `channel`.
    pub fn count_out(&self, channel: &str) {
        self.messages_out.get_or_create(&ChannelLabel { channel: channel.to_string() }).inc();
    }

    /// Counts a failed send.
    pub fn count_send_error(&self, channel: &str, kind: &str) {
        self.send_errors.get_or_create(&SendErrorLabels { channel: channel.into(), kind: kind.into() }).inc();
    }

    /// Counts a counselor notified at `level`.
    pub fn count_notice(&self, level: i64) {
        self.escalation_notices.get_or_create(&LevelLabel { level: level.to_string() }).inc();
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_in_the_text_format() {
        let metrics = Metrics::new();
        metrics.count_in("sms");
        metrics.count_in("sms");
        metrics.flood_limited.inc();
        metrics.step_seconds.observe(0.003);
        let text = metrics.render();
        assert!(text.contains("teduh_messages_in_total{channel=\"sms\"} 2"), "{text}");
        assert!(text.contains("teduh_flood_limited_total 1"), "{text}");
        assert!(text.contains("teduh_texts_truncated_total 0"), "{text}");
        assert!(text.contains("teduh_step_seconds_count 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
