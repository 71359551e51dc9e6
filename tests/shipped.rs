//! The shipped helpline content: every node reachable, every message in both languages, and
//! every message short enough for two SMS segments.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use teduh::channel::sms;
use teduh::flow::compiled::{FlowSet, Route, TriggerAction};
use teduh::flow::engine::BUILTIN_MESSAGES;
use teduh::flow::{NodeRef, Value, load};
use teduh::i18n::I18n;

fn shipped() -> (I18n, FlowSet) {
    let i18n = I18n::load(&common::crate_path("locales"), "id").expect("shipped locales load");
    let set = teduh::flow::load_flow_set(&common::crate_path("flows"), &i18n).expect("shipped flows load");
    (i18n, set)
}

/// Every message id the shipped flows reference, read from the files as authored.
fn referenced_messages() -> BTreeSet<String> {
    let (sources, problems) = load::read_dir(&common::crate_path("flows"));
    assert!(problems.is_empty(), "{problems:?}");
    let mut ids = BTreeSet::new();
    for src in &sources {
        for (_, node) in &src.doc.nodes.0 {
            ids.extend(node.say.as_ref().map(|s| s.value.clone()));
            if let Some(ask) = &node.ask {
                ids.extend(ask.value.choices.iter().map(|c| c.value.label.value.clone()));
                ids.extend(ask.value.on_invalid.as_ref().map(|m| m.value.clone()));
            }
        }
    }
    ids
}

#[test]
fn every_node_of_every_flow_is_reachable_from_the_helpline() {
    let (_, set) = shipped();
    let start = set.start_of("helpline").expect("helpline flow");
    let mut seen: HashSet<NodeRef> = HashSet::new();
    let mut queue: VecDeque<NodeRef> = VecDeque::from([start]);
    queue.extend(set.triggers.iter().filter_map(|t| match &t.action {
        TriggerAction::Goto(target) => Some(target.clone()),
        TriggerAction::Lang(_) => None,
    }));
    // The survey is started when a consultation or case closes, not from a menu.
    queue.extend(set.start_of("survey"));
    while let Some(at) = queue.pop_front() {
        if !seen.insert(at.clone()) {
            continue;
        }
        let node = set.node(&at).unwrap_or_else(|| panic!("missing node {at}"));
        if let Some(ask) = &node.ask {
            queue.extend(ask.choices.iter().filter_map(|c| c.goto.clone()));
            queue.extend(ask.fallback.clone());
            queue.extend(ask.timeout.as_ref().map(|(_, t)| t.clone()));
        }
        queue.extend(node.call.as_ref().and_then(|f| set.start_of(f)));
        match &node.route {
            Route::Goto(t) => queue.push_back(t.clone()),
            Route::Branch(arms) => queue.extend(arms.iter().map(|(_, t)| t.clone())),
            Route::End | Route::None => {}
        }
    }
    let mut unreached = Vec::new();
    for (flow_id, flow) in &set.flows {
        for node in flow.nodes.keys() {
            if !seen.contains(&NodeRef::new(flow_id.clone(), node.clone())) {
                unreached.push(format!("{flow_id}:{node}"));
            }
        }
    }
    assert!(unreached.is_empty(), "unreachable: {unreached:?}");
    for flow in ["helpline", "information", "consultation", "emergency", "nearest", "survey"] {
        assert!(set.flows.contains_key(flow), "flow {flow} is shipped");
    }
}

#[test]
fn every_message_exists_in_indonesian_and_english() {
    let (i18n, _) = shipped();
    let ids = referenced_messages();
    assert!(ids.len() > 100, "only {} message ids referenced", ids.len());
    for id in ids.iter().map(String::as_str).chain(BUILTIN_MESSAGES.iter().copied()) {
        for lang in ["id", "en"] {
            assert!(i18n.has_message(lang, id), "message `{id}` is missing in `{lang}`");
        }
    }
}

#[test]
fn every_message_fits_two_sms_segments_in_plain_characters() {
    let (i18n, _) = shipped();
    let mut vars = BTreeMap::new();
    vars.insert(
        "region".to_string(),
        Value::Region { code: "72.71".into(), name: "Kabupaten Kepulauan Seribu".into() },
    );
    vars.insert("count".to_string(), Value::Number(9.0));
    vars.insert("min".to_string(), Value::Number(1000.0));
    vars.insert("max".to_string(), Value::Number(1000.0));
    // Escalation messages: the longest plausible values.
    for (k, v) in [
        ("case", "K-3F9A21"),
        ("priority", "urgent"),
        ("kind", "penelantaran"),
        ("code", "4821"),
        ("name", "Konselor Dengan Nama Cukup Panjang"),
        ("provider", "UPTD PPA Kabupaten Kepulauan Seribu"),
        // Relayed words are as long as people write them; the frame around them must stay short.
        ("text", "Saya aman sekarang."),
        ("field", "hubungan"),
        ("value", "suami sirri yang tinggal serumah"),
        ("kinds", "fisik, psikis, seksual, eksploitasi, trafficking, penelantaran, lainnya"),
        ("ages", "0-5, 6-12, 13-17, 18-24, 25-44, 45-59, 60+"),
        ("target", "Konselor Dengan Nama Cukup Panjang"),
        ("from", "Konselor Dengan Nama Cukup Panjang"),
        ("via", "whatsapp"),
        ("time", "kapan saja"),
        ("number", "+6281299990000"),
    ] {
        vars.insert(k.to_string(), Value::Text(v.to_string()));
    }
    vars.insert("minutes".to_string(), Value::Number(120.0));
    // Lists of providers are as long as the directory makes them; SMS splits them.
    let dynamic = ["nearest-list"];
    let mut too_long = Vec::new();
    for id in referenced_messages().iter().map(String::as_str).chain(BUILTIN_MESSAGES.iter().copied()) {
        if dynamic.contains(&id) || id.starts_with("provider-") {
            continue;
        }
        for lang in ["id", "en"] {
            let text = i18n.render(lang, id, &vars);
            assert!(!text.contains("{$"), "`{id}` ({lang}) has an unfilled placeable: {text}");
            let segments = sms::segments(&text);
            let plain = sms::encoding(&text) == sms::Encoding::Gsm7;
            if segments > 2 || !plain {
                too_long.push(format!("{id} ({lang}): {segments} segment(s), plain GSM-7: {plain}: {text}"));
            }
        }
    }
    assert!(too_long.is_empty(), "messages too long for SMS or not plain GSM-7:\n{}", too_long.join("\n"));
}
