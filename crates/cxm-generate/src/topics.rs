//! The demo company's topic taxonomy: what customers contact us about, with how often each
//! topic comes up, how hard it is to resolve and how long it takes to discuss.

use cxm_domain::TopicKind;
use serde::Serialize;

/// One topic of the taxonomy with its true effects.
#[derive(Debug, Clone, Serialize)]
pub struct TopicSpec {
    pub code: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    #[serde(serialize_with = "kind_name")]
    pub kind: TopicKind,
    /// Words customers use for it; the first is used in comments.
    pub keywords: &'static [&'static str],
    /// Relative frequency as the reason for a new issue (0: only added, never a reason).
    pub weight: f64,
    /// Subtracted from the logit of resolution.
    pub difficulty: f64,
    /// Added to the log of talk time.
    pub talk_effect: f64,
}

fn kind_name<S: serde::Serializer>(kind: &TopicKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

macro_rules! topics {
    ($(($code:literal, $name:literal, $category:literal, $kind:ident, [$($kw:literal),*], $weight:literal, $difficulty:literal, $talk:literal)),+ $(,)?) => {
        &[$(TopicSpec {
            code: $code,
            name: $name,
            category: $category,
            kind: TopicKind::$kind,
            keywords: &[$($kw),*],
            weight: $weight,
            difficulty: $difficulty,
            talk_effect: $talk,
        }),+]
    };
}

/// The taxonomy: 40 topics in 7 categories.
pub const TOPICS: &[TopicSpec] = topics![
    (
        "bill-explain",
        "Explain a bill",
        "billing",
        Request,
        ["bill", "invoice", "charges"],
        8.0,
        0.0,
        0.0
    ),
    (
        "bill-wrong-charge",
        "Wrong charge",
        "billing",
        Problem,
        ["wrong charge", "overcharged", "bill amount"],
        5.0,
        0.5,
        0.15
    ),
    (
        "bill-payment-failed",
        "Payment failed",
        "billing",
        Problem,
        ["payment", "card declined", "direct debit"],
        4.0,
        0.2,
        0.0
    ),
    (
        "bill-refund",
        "Refund request",
        "billing",
        Request,
        ["refund", "money back"],
        4.0,
        0.3,
        0.05
    ),
    (
        "bill-payment-plan",
        "Payment plan",
        "billing",
        Request,
        ["payment plan", "instalments", "arrears"],
        2.0,
        0.2,
        0.2
    ),
    (
        "bill-complaint",
        "Billing complaint",
        "billing",
        Complaint,
        ["billing complaint", "unfair charges"],
        1.5,
        0.7,
        0.3
    ),
    (
        "tech-no-service",
        "No service",
        "technical",
        Problem,
        ["outage", "no signal", "service outage"],
        5.0,
        0.6,
        0.2
    ),
    (
        "tech-slow",
        "Slow connection",
        "technical",
        Problem,
        ["slow connection", "internet speed", "lag"],
        5.0,
        0.7,
        0.25
    ),
    (
        "tech-device-setup",
        "Device setup",
        "technical",
        Request,
        ["device setup", "installation", "configuration"],
        4.0,
        0.2,
        0.3
    ),
    (
        "tech-router",
        "Router fault",
        "technical",
        Problem,
        ["router", "modem", "router lights"],
        3.0,
        0.5,
        0.25
    ),
    (
        "tech-app-login",
        "App login issue",
        "technical",
        Problem,
        ["app login", "password", "account lockout"],
        4.0,
        0.1,
        0.0
    ),
    (
        "tech-email-setup",
        "Email settings",
        "technical",
        Request,
        ["email settings", "mailbox"],
        2.0,
        0.2,
        0.15
    ),
    (
        "tech-intermittent",
        "Intermittent drops",
        "technical",
        Problem,
        ["dropouts", "disconnections"],
        2.5,
        1.0,
        0.3
    ),
    (
        "tech-complaint",
        "Repeated fault complaint",
        "technical",
        Complaint,
        ["broken connection", "repeated fault"],
        1.2,
        0.9,
        0.35
    ),
    (
        "acct-address",
        "Change address",
        "account",
        Request,
        ["address change", "new address"],
        4.0,
        -0.2,
        -0.1
    ),
    (
        "acct-details",
        "Update details",
        "account",
        Request,
        ["update details", "name change"],
        4.0,
        -0.3,
        -0.15
    ),
    (
        "acct-close",
        "Close account",
        "account",
        Request,
        ["account closure", "cancellation"],
        2.0,
        0.3,
        0.1
    ),
    (
        "acct-password",
        "Password reset",
        "account",
        Request,
        ["password reset", "forgot password"],
        4.0,
        -0.4,
        -0.2
    ),
    (
        "acct-security",
        "Security concern",
        "account",
        Problem,
        ["account security", "fraud", "suspicious activity"],
        1.5,
        0.4,
        0.2
    ),
    (
        "acct-owner",
        "Change account holder",
        "account",
        Request,
        ["account holder", "transfer ownership"],
        1.0,
        0.5,
        0.2
    ),
    (
        "order-status",
        "Order status",
        "orders",
        Request,
        ["order status", "order tracking"],
        5.0,
        0.0,
        -0.2
    ),
    (
        "order-late",
        "Late delivery",
        "orders",
        Problem,
        ["late delivery", "missing delivery"],
        3.0,
        0.5,
        0.0
    ),
    (
        "order-damaged",
        "Damaged item",
        "orders",
        Problem,
        ["damaged", "broken item"],
        1.5,
        0.3,
        0.05
    ),
    (
        "order-return",
        "Return an item",
        "orders",
        Request,
        ["return", "return label"],
        3.0,
        0.1,
        0.0
    ),
    (
        "order-cancel",
        "Cancel an order",
        "orders",
        Request,
        ["order cancellation"],
        2.0,
        0.0,
        -0.1
    ),
    (
        "order-complaint",
        "Delivery complaint",
        "orders",
        Complaint,
        ["delivery complaint", "courier"],
        1.0,
        0.6,
        0.2
    ),
    (
        "sales-upgrade",
        "Upgrade plan",
        "sales",
        Sales,
        ["upgrade", "better plan"],
        3.0,
        -0.3,
        0.2
    ),
    (
        "sales-new-product",
        "New product enquiry",
        "sales",
        Sales,
        ["new product", "new offer"],
        2.5,
        -0.2,
        0.25
    ),
    (
        "sales-retention",
        "Retention offer",
        "sales",
        Sales,
        ["retention offer", "discount"],
        1.5,
        0.0,
        0.2
    ),
    (
        "sales-addon",
        "Add-on purchase",
        "sales",
        Sales,
        ["add-on", "extras"],
        2.0,
        -0.3,
        0.1
    ),
    (
        "sales-price",
        "Price enquiry",
        "sales",
        Request,
        ["price", "costs"],
        3.0,
        0.0,
        -0.1
    ),
    (
        "plan-renewal",
        "Contract renewal",
        "plans",
        Request,
        ["renewal", "contract end"],
        2.0,
        0.1,
        0.15
    ),
    (
        "plan-change",
        "Change plan",
        "plans",
        Request,
        ["plan change", "downgrade"],
        2.5,
        0.1,
        0.1
    ),
    (
        "plan-roaming",
        "Roaming and travel",
        "plans",
        Request,
        ["roaming", "roaming charges"],
        1.5,
        0.1,
        0.0
    ),
    (
        "plan-moving-home",
        "Moving home",
        "plans",
        Request,
        ["moving home", "relocation"],
        2.0,
        0.3,
        0.2
    ),
    (
        "svc-complaint-staff",
        "Complaint about staff",
        "service",
        Complaint,
        ["rude staff", "staff complaint"],
        0.6,
        0.7,
        0.2
    ),
    (
        "svc-complaint-wait",
        "Complaint about waiting",
        "service",
        Complaint,
        ["waiting time", "hold times"],
        0.8,
        0.5,
        0.1
    ),
    (
        "svc-compliment",
        "Compliment",
        "service",
        Compliment,
        ["thanks", "great service"],
        0.0,
        -0.5,
        -0.2
    ),
    (
        "svc-feedback",
        "General feedback",
        "service",
        Request,
        ["feedback", "suggestion"],
        1.0,
        0.0,
        -0.1
    ),
    (
        "svc-accessibility",
        "Accessibility support",
        "service",
        Request,
        ["accessibility", "large print"],
        0.5,
        0.2,
        0.3
    ),
];

/// Index of a topic by code (the taxonomy is fixed, so a wrong code is a bug here).
pub(crate) fn index_of(code: &str) -> usize {
    TOPICS
        .iter()
        .position(|t| t.code == code)
        .unwrap_or_else(|| panic!("topic {code} is not in the taxonomy"))
}

/// Cumulative weights for sampling a new issue's reason, and per-category topic lists.
pub(crate) struct TopicSampler {
    cumulative: Vec<f64>,
    /// For each topic, the other topics of its category.
    same_category: Vec<Vec<u16>>,
    pub complaint_by_category: Vec<Option<u16>>,
    pub sales: Vec<u16>,
    pub compliment: u16,
    pub wait_complaint: u16,
}

impl TopicSampler {
    pub fn new() -> Self {
        let mut total = 0.0;
        let cumulative = TOPICS
            .iter()
            .map(|t| {
                total += t.weight;
                total
            })
            .collect();
        let same_category = TOPICS
            .iter()
            .enumerate()
            .map(|(i, t)| {
                TOPICS
                    .iter()
                    .enumerate()
                    .filter(|(j, o)| *j != i && o.category == t.category && o.weight > 0.0)
                    .map(|(j, _)| j as u16)
                    .collect()
            })
            .collect();
        let complaint_by_category = TOPICS
            .iter()
            .map(|t| {
                TOPICS
                    .iter()
                    .position(|o| o.category == t.category && o.kind == TopicKind::Complaint)
                    .map(|j| j as u16)
            })
            .collect();
        let sales = TOPICS
            .iter()
            .enumerate()
            .filter(|(_, t)| t.kind == TopicKind::Sales)
            .map(|(i, _)| i as u16)
            .collect();
        TopicSampler {
            cumulative,
            same_category,
            complaint_by_category,
            sales,
            compliment: index_of("svc-compliment") as u16,
            wait_complaint: index_of("svc-complaint-wait") as u16,
        }
    }

    /// A topic by weight, from a uniform draw in 0–1.
    pub fn by_weight(&self, u: f64) -> u16 {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = u * total;
        let i = self.cumulative.partition_point(|&c| c <= target);
        i.min(TOPICS.len() - 1) as u16
    }

    pub fn same_category(&self, topic: u16) -> &[u16] {
        &self.same_category[topic as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taxonomy_is_well_formed() {
        assert_eq!(TOPICS.len(), 40);
        for (i, t) in TOPICS.iter().enumerate() {
            assert!(
                TOPICS[..i].iter().all(|o| o.code != t.code),
                "duplicate {}",
                t.code
            );
            assert!(!t.keywords.is_empty());
            assert!(t.keywords.iter().all(|k| !k.contains([';', ',', '"'])));
        }
        let sampler = TopicSampler::new();
        assert_ne!(TOPICS[sampler.by_weight(0.999_999) as usize].weight, 0.0);
        assert_eq!(sampler.by_weight(0.0), 0);
        // the zero-weight compliment is never a reason
        for k in 0..10_000 {
            assert_ne!(sampler.by_weight(k as f64 / 10_000.0), sampler.compliment);
        }
    }
}
