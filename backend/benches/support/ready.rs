//! Shared by the benchmarks: waiting for a started `clavis serve`.

/// Waits until `base`'s `/readyz` answers 200 (polling every 50 ms, for at most 20 s).
///
/// # Panics
/// When it never does: the benchmark has nothing to measure.
pub async fn wait_until_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if let Ok(response) = http.get(format!("{base}/readyz")).send().await
            && response.status() == 200
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("clavis did not become ready");
}
