//! JSON Schema of flow files, generated from the Rust types so editors validate what the engine
//! accepts.

use super::model::FlowDoc;

/// The schema as pretty-printed JSON with a trailing newline, as committed in `flows/schema.json`.
pub fn flow_schema_json() -> String {
    let schema = schemars::schema_for!(FlowDoc);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
