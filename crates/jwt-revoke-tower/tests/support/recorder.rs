//! A metrics recorder of one test's own (feature `metrics`), and what it recorded.

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// Runs `script` on a current-thread runtime with a recorder of its own (tasks it spawns run
/// on the same thread, so they report to it too), and returns its value and what it recorded.
pub fn recorded<T>(script: impl AsyncFnOnce() -> T) -> (T, Snapshot) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let value = metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(script())
    });
    (value, Snapshot(read(&snapshotter)))
}

/// One metric: its name, its labels sorted, its value.
pub type Sample = (String, Vec<(String, String)>, DebugValue);

/// Every metric, read once (a snapshot drains histograms).
fn read(snapshotter: &Snapshotter) -> Vec<Sample> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (_, key) = key.into_parts();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            (key.name().to_owned(), labels, value)
        })
        .collect()
}

pub struct Snapshot(Vec<Sample>);

impl Snapshot {
    /// Every metric.
    pub fn all(&self) -> impl Iterator<Item = &Sample> {
        self.0.iter()
    }

    /// The counters named `name`, as `(labels joined, value)`, sorted.
    pub fn counters(&self, name: &str) -> Vec<(String, u64)> {
        let mut found: Vec<(String, u64)> = self
            .all()
            .filter(|(n, _, _)| n == name)
            .map(|(_, labels, value)| {
                let labels = labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                match value {
                    DebugValue::Counter(count) => (labels, *count),
                    other => panic!("{name} is not a counter: {other:?}"),
                }
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        found.sort();
        found
    }

    /// The value of the gauge `name` with exactly `labels`, if it was set.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted = sorted(labels);
        self.all()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map(|(_, _, value)| match value {
                DebugValue::Gauge(value) => value.into_inner(),
                other => panic!("{name} is not a gauge: {other:?}"),
            })
    }

    /// How many values the histogram `name` with exactly `labels` holds.
    pub fn histogram_len(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        let wanted = sorted(labels);
        self.all()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map_or(0, |(_, _, value)| match value {
                DebugValue::Histogram(values) => values.len(),
                other => panic!("{name} is not a histogram: {other:?}"),
            })
    }
}

/// `expected` as [`Snapshot::counters`] gives it.
pub fn pairs(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut expected: Vec<(String, u64)> = expected
        .iter()
        .map(|(labels, count)| ((*labels).to_owned(), *count))
        .collect();
    expected.sort();
    expected
}

fn sorted(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    labels
}
