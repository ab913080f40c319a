//! The decision span: one `jwt_revoke.decision` span per request the layer judges, with the
//! outcome and the reason, the issuer of a verified token, and nothing else of the token.

mod support;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};

/// The fields of every decision span, as `name=value` lines, in order.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<Vec<String>>>>);

struct Fields<'a>(&'a mut Vec<String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "jwt_revoke.decision" {
            let mut fields = Vec::new();
            attrs.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().push(fields);
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
        ]
    );
    // Nothing of the token or its subject in any field.
    let all = spans.concat().join(" ");
    assert!(
        !all.contains("alice") && !all.contains("t-1") && !all.contains("eyJ"),
        "{all}"
    );
}
