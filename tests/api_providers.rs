//! Changing the provider directory through the API (admins only), with the CLI's checks: one
//! provider updated or created, or the whole file replaced. The change is in use at once (a new
//! counselor is notified of the next emergency), and a change stored by another instance or the
//! CLI reaches this one within seconds.

mod common;

use reqwest::StatusCode;
use serde_json::Value;
use teduh::access::{Role, users};
use teduh::store::NewUser;

use common::e2e::*;

const NEW_COUNSELOR: i64 = 100000023;

fn palu(extra_counselor: &str) -> String {
    format!(
        r#"providers:
  - id: uptd-ppa-palu
    name: "[CONTOH FIKTIF] UPTD PPA Kota Palu"
    kind: uptd_ppa_regency
    region: "72.71"
    location: {{ lat: -0.895, lon: 119.859 }}
    services: [pengaduan, penjangkauan, pengelolaan_kasus, penampungan, mediasi, pendampingan, informasi, konsultasi]
    hours: {{ tz: WITA, open: ["mon-fri 08:00-16:00"] }}
    contacts: {{ phone: "0800-0000-0002" }}
    counselors:
      - {{ id: uptd-ppa-palu-k1, name: "Konselor Contoh 2A", telegram: "100000021" }}
      - {{ id: uptd-ppa-palu-k2, name: "Konselor Contoh 2B", telegram: "100000022" }}
      - {{ id: {extra_counselor}, name: "Konselor Baru 2C", telegram: "{NEW_COUNSELOR}" }}
"#
    )
}

async fn put(w: &World, token: &str, path: &str, body: String) -> (StatusCode, Value) {
    let response = w
        .http
        .put(format!("{}{path}", w.base))
        .bearer_auth(token)
        .header("content-type", "application/yaml")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn names(w: &World, token: &str) -> Vec<String> {
    let list: Value = w
        .http
        .get(format!("{}/api/v1/providers", w.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["providers"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_changes_the_directory_and_it_is_in_use_at_once() {
    bounded(async {
        let w = world((10, 0)).await;
        let admin_user = NewUser { name: "ops", role: Role::Admin, provider_id: None, counselor_id: None };
        let admin = users::add_user(&w.store, &w.directory, &admin_user, 1).await.unwrap().token;
        let sri_user =
            NewUser { name: "sri", role: Role::Supervisor, provider_id: Some("uptd-ppa-palu"), counselor_id: None };
        let sri = users::add_user(&w.store, &w.directory, &sri_user, 1).await.unwrap().token;

        // Only admins; a broken file names its line; the path's id must be the file's.
        assert_eq!(put(&w, &sri, "/api/v1/providers/uptd-ppa-palu", palu("uptd-ppa-palu-k3")).await.0, StatusCode::FORBIDDEN);
        let broken = palu("uptd-ppa-palu-k3").replace("region: \"72.71\"", "region: \"72.99\"");
        let (status, body) = put(&w, &admin, "/api/v1/providers/uptd-ppa-palu", broken).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("72.99"), "{body}");
        assert_eq!(put(&w, &admin, "/api/v1/providers/lplpp-palu", palu("uptd-ppa-palu-k3")).await.0, StatusCode::BAD_REQUEST);
        // A counselor id of another provider is refused.
        let (status, body) = put(&w, &admin, "/api/v1/providers/uptd-ppa-palu", palu("uptd-ppa-sulteng-k1")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"]["message"].as_str().unwrap().contains("belongs to uptd-ppa-sulteng"), "{body}");

        // Palu gets a third counselor, on call all week from now on.
        let (status, body) = put(&w, &admin, "/api/v1/providers/uptd-ppa-palu", palu("uptd-ppa-palu-k3")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let roster = "provider,counselor,role,days,start,end\nuptd-ppa-palu,uptd-ppa-palu-k3,primary,mon-sun,00:00,24:00\n";
        let response = w
            .http
            .put(format!("{}/api/v1/rosters/uptd-ppa-palu", w.base))
            .bearer_auth(&sri)
            .body(roster)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
        // The next emergency reaches her without a restart.
        w.whatsapp_emergency().await;
        w.until("the new counselor's notice", |w| !w.telegram_to(NEW_COUNSELOR).is_empty()).await;

        // A new provider is created; the whole file can be replaced too.
        let created = palu("lplpp-uji-k1")
            .replace("id: uptd-ppa-palu\n", "id: lplpp-uji\n")
            .replace("[CONTOH FIKTIF] UPTD PPA Kota Palu", "LPLPP Uji")
            .replace("uptd_ppa_regency", "lplpp")
            .replace("uptd-ppa-palu-k1", "lplpp-uji-k2")
            .replace("uptd-ppa-palu-k2", "lplpp-uji-k3");
        let (status, body) = put(&w, &admin, "/api/v1/providers/lplpp-uji", created).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(names(&w, &admin).await.contains(&"LPLPP Uji".to_string()));
        let example = std::fs::read_to_string(common::crate_path("providers/example.yaml")).unwrap();
        let (status, body) = put(&w, &admin, "/api/v1/providers", example).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(!names(&w, &admin).await.contains(&"LPLPP Uji".to_string()));

        // Stored by someone else (the CLI, another instance): in use here within seconds.
        let mut stored = w.store.providers().await.unwrap();
        stored.retain(|p| p.id != "lplpp-palu");
        w.store.replace_providers(&stored).await.unwrap();
        let gone = common::eventually(20, || async {
            (!names(&w, &admin).await.iter().any(|n| n.contains("Rumah Perempuan Lembah Palu"))).then_some(())
        })
        .await;
        assert!(gone.is_some(), "the stored change reached this instance");
    })
    .await;
}
