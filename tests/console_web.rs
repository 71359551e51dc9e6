//! The web console's assets as `teduh serve` serves them: built in, locked down by headers,
//! and every word the script asks for present in Indonesian and English.

mod common;

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use common::e2e::*;

/// Every `t('key')` and `t(`prefix-${...}`)` the console script asks for.
fn keys_in_script() -> (BTreeSet<String>, BTreeSet<String>) {
    let script = std::fs::read_to_string(common::crate_path("src/console/assets/app.js")).unwrap();
    let plain = regex::Regex::new(r"[^a-zA-Z_.]t\('([a-z0-9-]+)'").unwrap();
    let prefixed = regex::Regex::new(r"[^a-zA-Z_.]t\(`([a-z-]+-)\$\{").unwrap();
    let keys = plain.captures_iter(&script).map(|c| c[1].to_string()).collect();
    let prefixes = prefixed.captures_iter(&script).map(|c| c[1].to_string()).collect();
    (keys, prefixes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_from_the_binary_with_its_words() {
    bounded(async {
        let w = world((10, 0)).await;
        let page = w.http.get(format!("{}/console", w.base)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert_eq!(page.headers()["x-frame-options"], "DENY");
        let html = page.text().await.unwrap();
        assert!(html.contains("/console/app.js") && !html.contains("http"), "no external assets: {html}");
        for asset in ["/console/app.js", "/console/app.css"] {
            let r = w.http.get(format!("{}{asset}", w.base)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{asset}");
            assert!(!r.text().await.unwrap().contains("https://"), "{asset} fetches nothing from elsewhere");
        }
        assert_eq!(
            w.http.get(format!("{}/console/i18n/fr", w.base)).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );

        let (keys, prefixes) = keys_in_script();
        assert!(keys.len() > 50, "{keys:?}");
        for lang in ["id", "en"] {
            let words: Value = w
                .http
                .get(format!("{}/console/i18n/{lang}", w.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let words = words.as_object().unwrap();
            for key in &keys {
                assert!(words.contains_key(key), "{lang}: console-{key} is missing");
            }
            for prefix in &prefixes {
                assert!(words.keys().any(|k| k.starts_with(prefix.as_str())), "{lang}: no console-{prefix}*");
            }
            // Variables are left for the browser to fill in.
            assert!(
                words["minutes-ago"].as_str().unwrap().contains("{$n}"),
                "{lang}: {}",
                words["minutes-ago"]
            );
        }
        let id: Value =
            w.http.get(format!("{}/console/i18n/id", w.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(id["accept"], "Terima");
        let en: Value =
            w.http.get(format!("{}/console/i18n/en", w.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(en["accept"], "Accept");
    })
    .await;
}
