//! The committed flow schema must match the Rust types.

#[test]
fn committed_flow_schema_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/schema.json");
    let committed = std::fs::read_to_string(&path).expect("flows/schema.json exists");
    let generated = teduh::flow::schema::flow_schema_json();
    assert!(
        committed == generated,
        "flows/schema.json is stale: run `cargo run -- flows schema > flows/schema.json`"
    );
}

#[test]
fn schema_lists_every_input_and_action() {
    let schema: serde_json::Value = serde_json::from_str(&teduh::flow::schema::flow_schema_json()).unwrap();
    let text = schema.to_string();
    for (name, _) in teduh::flow::model::InputKind::ALL {
        assert!(text.contains(&format!("\"{name}\"")), "input {name} missing from schema");
    }
    for (name, _) in teduh::flow::model::ActionKind::ALL {
        assert!(text.contains(&format!("\"{name}\"")), "action {name} missing from schema");
    }
}
