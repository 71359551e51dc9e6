//! The OpenAPI document: generated from the handlers, served by the real server, and kept in
//! `docs/openapi.json`, which this test refuses to let go stale. Every documented path answers
//! (401 without a token, so it exists and is guarded), and nothing outside it does.

mod common;

use reqwest::StatusCode;
use serde_json::Value;

use common::e2e::*;

const KEPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

#[test]
fn the_kept_document_is_the_generated_one() {
    let generated = teduh::api::openapi_json();
    let kept = std::fs::read_to_string(KEPT).unwrap_or_default();
    assert!(
        kept == generated,
        "docs/openapi.json is stale: regenerate it with `cargo run --quiet -- openapi > docs/openapi.json`"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_serves_it_and_every_documented_path_exists_and_needs_a_token() {
    bounded(async {
        let mut w = world((10, 0)).await;
        let served = w.http.get(format!("{}/api/v1/openapi.json", w.base)).send().await.unwrap();
        assert_eq!(served.status(), StatusCode::OK, "the document needs no token");
        let served: Value = served.json().await.unwrap();
        let generated: Value = serde_json::from_str(&teduh::api::openapi_json()).unwrap();
        assert_eq!(served, generated);

        let paths = generated["paths"].as_object().expect("paths");
        assert!(paths.len() >= 6, "{:?}", paths.keys());
        let mut ids: Vec<&str> = paths
            .values()
            .flat_map(|ops| ops.as_object().expect("operations").values())
            .map(|op| op["operationId"].as_str().expect("operationId"))
            .collect();
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all, "operation ids are unique: {ids:?}");
        for (path, operations) in paths {
            let concrete = path.replace("{code}", "K-000000");
            for method in operations.as_object().expect("operations").keys() {
                let request = match method.as_str() {
                    "get" => w.http.get(format!("{}{concrete}", w.base)),
                    "post" => w.http.post(format!("{}{concrete}", w.base)).json(&serde_json::json!({})),
                    "patch" => w.http.patch(format!("{}{concrete}", w.base)).json(&serde_json::json!({})),
                    "put" => w.http.put(format!("{}{concrete}", w.base)).json(&serde_json::json!({})),
                    "delete" => w.http.delete(format!("{}{concrete}", w.base)),
                    other => panic!("undocumented method {other} in the test"),
                };
                let status = request.send().await.unwrap().status();
                let security = &operations[method]["security"];
                assert!(security.is_null() || security.is_array(), "{method} {path}");
                // Signing in is the one operation documented as open (`security: [{}]`).
                if security
                    .as_array()
                    .is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(|o| o.is_empty())))
                {
                    assert_ne!(status, StatusCode::NOT_FOUND, "{method} {path} is served");
                    continue;
                }
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
            }
        }
        // The document says every operation needs the bearer token.
        assert_eq!(generated["security"][0]["token"], serde_json::json!([]));
        assert_eq!(generated["components"]["securitySchemes"]["token"]["scheme"], "bearer");
        // A path the document does not list is not served.
        let unknown = w.http.get(format!("{}/api/v1/nothing-here", w.base)).send().await.unwrap();
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        w.stop().await;
    })
    .await;
}
