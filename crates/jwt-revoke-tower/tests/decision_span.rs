//! The decision span: one `jwt_revoke.decision` span per request the layer judges, with the
//! outcome and the reason, the issuer of a verified token, and nothing else of the token.

mod support;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};

/// The fields of every decision span, as `name=value` lines, in order; and the warnings
/// logged, each with the name of the span it was logged in.
#[derive(Clone, Default)]
struct Spans(
    Arc<Mutex<Vec<Vec<String>>>>,
    Arc<Mutex<Vec<(String, String)>>>,
);

struct Fields<'a>(&'a mut Vec<String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

impl<S> tracing_subscriber::Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "jwt_revoke.decision" {
            let mut fields = Vec::new();
            attrs.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().push(fields);
        }
    }
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() <= tracing::Level::WARN {
            let mut fields = Vec::new();
            event.record(&mut Fields(&mut fields));
            let span = ctx
                .event_span(event)
                .map_or_else(|| "none".to_owned(), |span| span.name().to_owned());
            self.1.lock().unwrap().push((span, fields.join(" ")));
        }
    }
    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        // The issuer is recorded after the span opens: it belongs to the latest span.
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            values.record(&mut Fields(last));
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_decision_is_one_span_with_its_outcome_reason_and_issuer_only() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let clock = clock();
    let app = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    let token = sign(&claims("alice", "t-1"));
    assert_eq!(status_for(&app, "GET", "/me", &token).await, StatusCode::OK);
    assert_eq!(
        status_for(&app, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &token, "revoked").await;
    assert_eq!(
        send(&app, request("GET", "/me", None)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A store that fails: the decision's span holds the warning logged while it is judged.
    let down = support::app(
        hs256_builder(revocations_on(Arc::new(DownStore), &clock, policy()))
            .build()
            .expect("builds"),
    );
    assert_eq!(
        status_for(&down, "GET", "/me", &token).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let warnings = spans.1.lock().unwrap().clone();
    assert!(
        !warnings.is_empty()
            && warnings
                .iter()
                .all(|(span, message)| span == "jwt_revoke.decision" && message.contains("store")),
        "{warnings:?}"
    );

    let spans = spans.0.lock().unwrap().clone();
    let iss = format!("iss={ISSUER}");
    assert_eq!(
        spans,
        vec![
            vec![
                "outcome=allowed".to_owned(),
                "reason=valid".to_owned(),
                iss.clone()
            ],
            vec![
                "outcome=allowed".to_owned(),
                "reason=valid".to_owned(),
                iss.clone()
            ],
            vec![
                "outcome=rejected".to_owned(),
                "reason=revoked_token".to_owned(),
                iss
            ],
            vec!["outcome=rejected".to_owned(), "reason=no_token".to_owned()],
            vec![
                "outcome=rejected".to_owned(),
                "reason=store_unavailable".to_owned(),
                format!("iss={ISSUER}")
            ],
        ]
    );
    // Nothing of the token or its subject in any field.
    let all = spans.concat().join(" ");
    assert!(
        !all.contains("alice") && !all.contains("t-1") && !all.contains("eyJ"),
        "{all}"
    );
}
